"""`CustomerServicer`: the CustomerService RPCs as thin translations around `CustomerFlow`.

Reads only: validate at the edge, hand the flow the caller's remaining time, convert back. List paging is
the gateway's page tokens over Vouchery's page numbers (`page_tokens`). Errors leave through
`handle_errors`.
"""

from __future__ import annotations

from typing import TypeAlias

import grpc

from vouchery.gateway.v1 import common_pb2, customer_pb2, customer_pb2_grpc
from vouchery_gateway.customers.flow import CustomerFlow
from vouchery_gateway.edge import convert
from vouchery_gateway.edge.errors import handle_errors
from vouchery_gateway.edge.page_tokens import next_token, page_request
from vouchery_gateway.edge.validation import validate_customer
from vouchery_gateway.upstream.models import Customer

Context: TypeAlias = grpc.aio.ServicerContext


class CustomerServicer(customer_pb2_grpc.CustomerServiceServicer):
    """vouchery.gateway.v1.CustomerService."""

    def __init__(self, flow: CustomerFlow) -> None:
        self._flow = flow

    @handle_errors
    async def GetCustomer(
        self, request: customer_pb2.GetCustomerRequest, context: Context
    ) -> customer_pb2.GetCustomerResponse:
        validate_customer(request)
        customer = await self._flow.customer(request.customer_id, context.time_remaining())
        return customer_pb2.GetCustomerResponse(customer=customer_message(customer))

    @handle_errors
    async def ListCustomerVouchers(
        self, request: customer_pb2.ListCustomerVouchersRequest, context: Context
    ) -> customer_pb2.ListCustomerVouchersResponse:
        validate_customer(request)
        scope = "vouchers:" + request.customer_id
        wanted = page_request(scope, request.page_size, request.page_token)
        page = await self._flow.vouchers(
            request.customer_id, wanted.page, wanted.per_page, context.time_remaining()
        )
        answer = customer_pb2.ListCustomerVouchersResponse(
            vouchers=[convert.voucher(v) for v in page.items],
            next_page_token=next_token(scope, wanted, page.has_next and bool(page.items)),
        )
        if page.total is not None:
            answer.total_size = page.total
        return answer

    @handle_errors
    async def ListAvailableVouchers(
        self, request: customer_pb2.ListAvailableVouchersRequest, context: Context
    ) -> customer_pb2.ListAvailableVouchersResponse:
        validate_customer(request)
        vouchers = await self._flow.available_vouchers(request.customer_id, context.time_remaining())
        return customer_pb2.ListAvailableVouchersResponse(vouchers=[convert.voucher(v) for v in vouchers])


def customer_message(value: Customer) -> customer_pb2.Customer:
    return customer_pb2.Customer(
        customer_id=value.identifier,
        name=value.name,
        loyalty_points=value.loyalty_points,
        categories=[common_pb2.Category(name=c.name, tag=c.tag) for c in value.categories],
        redemptions_count=value.redemptions_count,
        vouchers_count=value.vouchers_count,
        created_at=convert.timestamp(value.created_at),
    )
