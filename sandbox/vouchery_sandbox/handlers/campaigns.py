"""Campaign, reward and rule routes (enough to seed any scenario through the API), and ``GET /me``."""

from __future__ import annotations

from .. import shaping
from ..context import Sandbox
from ..db import write_tx
from ..http import Request, Response, json_response, no_content
from ..paging import page_of, paged_response
from ..state import campaigns
from ..validation import parse_object, require_object


def create(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), campaigns.CAMPAIGN_FIELDS)
    with write_tx(sb.conn):
        campaign_id = campaigns.create(sb.conn, values, sb.now_ts())
        body = campaigns.campaign_json(sb.conn, campaigns.get_row(sb.conn, campaign_id))
    return json_response(201, body)


def get(sb: Sandbox, req: Request) -> Response:
    return json_response(
        200, campaigns.campaign_json(sb.conn, campaigns.get_row(sb.conn, req.int_param("id")))
    )


def update(sb: Sandbox, req: Request) -> Response:
    values = parse_object(req.json(), campaigns.CAMPAIGN_FIELDS, partial=True)
    with write_tx(sb.conn):
        row = campaigns.get_row(sb.conn, req.int_param("id"))
        campaigns.change(sb.conn, row, values, sb.now_ts())
        body = campaigns.campaign_json(sb.conn, campaigns.get_row(sb.conn, row["id"]))
    return json_response(200, body)


_FILTERS = {
    "name_cont": ("name LIKE ?", "%{}%"),
    "status_eq": ("status = ?", "{}"),
    "template_eq": ("template = ?", "{}"),
    "team_eq": ("team = ?", "{}"),
    "type_eq": ("type = ?", "{}"),
}


def list_all(sb: Sandbox, req: Request) -> Response:
    """``GET /campaigns`` filtered by ``name_cont``, ``status_eq``, ``template_eq``, ``team_eq``."""
    page = page_of(req)
    where, args = ["1 = 1"], []
    for name, (clause, pattern) in _FILTERS.items():
        if name in req.query:
            where.append(clause)
            args.append(pattern.format(req.query[name]))
    if req.query.get("loyalty_program") == "true":
        where.append("loyalty_points_price IS NOT NULL")
    sql = " AND ".join(where)
    (total,) = sb.conn.execute(f"SELECT COUNT(*) FROM campaigns WHERE {sql}", args).fetchone()
    found = sb.conn.execute(
        f"SELECT * FROM campaigns WHERE {sql} ORDER BY id LIMIT ? OFFSET ?", (*args, page.size, page.offset)
    ).fetchall()
    return paged_response(req, page, total, [campaigns.campaign_json(sb.conn, r) for r in found])


# --------------------------------------------------------------------------- rules and rewards


def _create_part(sb: Sandbox, req: Request, table: str) -> Response:
    body = require_object(req.json())
    with write_tx(sb.conn):
        campaigns.ensure_exists(sb.conn, req.int_param("id"))
        part_id = campaigns.add_part(sb.conn, table, req.int_param("id"), body, sb.now_ts())
        out = campaigns.part_json(campaigns.get_part(sb.conn, table, part_id))
    return json_response(201, out)


def _list_parts(sb: Sandbox, req: Request, table: str) -> Response:
    page = page_of(req)
    campaigns.ensure_exists(sb.conn, req.int_param("id"))
    found = campaigns.parts(sb.conn, table, req.int_param("id"))
    return paged_response(
        req, page, len(found), [campaigns.part_json(r) for r in found[page.offset : page.offset + page.size]]
    )


def _update_part(sb: Sandbox, req: Request, table: str) -> Response:
    body = require_object(req.json())
    with write_tx(sb.conn):
        row = campaigns.get_part(sb.conn, table, req.int_param("id"))
        campaigns.replace_part(sb.conn, table, row, body, sb.now_ts())
        out = campaigns.part_json(campaigns.get_part(sb.conn, table, row["id"]))
    return json_response(200, out)


def create_reward(sb: Sandbox, req: Request) -> Response:
    return _create_part(sb, req, "rewards")


def list_rewards(sb: Sandbox, req: Request) -> Response:
    return _list_parts(sb, req, "rewards")


def get_reward(sb: Sandbox, req: Request) -> Response:
    return json_response(
        200, campaigns.part_json(campaigns.get_part(sb.conn, "rewards", req.int_param("id")))
    )


def update_reward(sb: Sandbox, req: Request) -> Response:
    return _update_part(sb, req, "rewards")


def create_rule(sb: Sandbox, req: Request) -> Response:
    return _create_part(sb, req, "rules")


def list_rules(sb: Sandbox, req: Request) -> Response:
    return _list_parts(sb, req, "rules")


def get_rule(sb: Sandbox, req: Request) -> Response:
    return json_response(200, campaigns.part_json(campaigns.get_part(sb.conn, "rules", req.int_param("id"))))


def update_rule(sb: Sandbox, req: Request) -> Response:
    return _update_part(sb, req, "rules")


def delete_rule(sb: Sandbox, req: Request) -> Response:
    with write_tx(sb.conn):
        row = campaigns.get_part(sb.conn, "rules", req.int_param("id"))
        sb.conn.execute("DELETE FROM rules WHERE id = ?", (row["id"],))
        campaigns.bump(sb.conn, row["campaign_id"])
    return no_content()


def me(sb: Sandbox, req: Request) -> Response:
    """``GET /me``: the API user behind the key (its role) and the project, in the contract's
    ``me_role`` spelling and ``me_shape`` placement."""
    return json_response(200, shaping.me(sb.contract, req.role, sb.config.project_name))
