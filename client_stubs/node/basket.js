#!/usr/bin/env node
// A sale with several voucher codes against the vouchery-pos-gateway with @vouchery/gateway-client:
// validate the basket, redeem it (PENDING, every code reserved), take payment, then confirm every code;
// with --return-line, then take those units back (ReturnItems). Prints one JSON object with what each
// code did, what each cart line costs after its discounts, the totals and, for a return, the refund per
// line and what became of each code.
//
//   node basket.js --target 127.0.0.1:50051 --code SAVE10 --code FIVEOFF --code GIFT-50 \
//       --line SHIRT:2:15.00 --line SHOES:1:20.00
//
// Options (flags win over the environment):
//   --target / VOUCHERY_GATEWAY_TARGET      gateway host:port (default 127.0.0.1:50051)
//   --api-key / VOUCHERY_GATEWAY_API_KEY    caller key, sent as "authorization: Bearer ..." (optional)
//   --ca-file / VOUCHERY_GATEWAY_CA_FILE    PEM CA: use TLS and verify the gateway with it (optional)
//   --code CODE                             a voucher code; repeat it for each code (at least one)
//   --line SKU:QTY:UNIT_PRICE               a cart line, the price in the currency's unit with its decimals
//                                           (15.00 = fifteen euros, as `vouchery-gateway call --line`;
//                                           a bare 1500 is refused as ambiguous); repeat it for each line
//                                           (at least one); the total is their exact sum
//   --return-line INDEX:QTY                 after the confirm, return QTY units of cart line INDEX (0-based);
//                                           repeat it for each line; the return's id is --return-id
//                                           (default RET-<random>), which makes the return safe to retry
//   --currency, --transaction-id, --customer, --locale, --timeout-ms, --return-id
// Money is int64 minor units, kept as strings (never a JavaScript number) in and out.
// Exit code: 0 confirmed, 3 a code was refused (each code's result is printed), 1 any error (printed with
// its gRPC status), 2 bad options.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { GatewayClient, GatewayError, cartLine, cartWithLines, parseAmount, returnedLine } = require('@vouchery/gateway-client');

const REPEATED = new Set(['code', 'line', 'return-line']);
const KNOWN = new Set([
  ...REPEATED, 'target', 'api-key', 'ca-file', 'currency', 'transaction-id', 'customer', 'locale', 'timeout-ms', 'return-id',
]);

class UsageError extends Error {}

function parseArgs(argv) {
  const options = { code: [], line: [], 'return-line': [] };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    if (!name.startsWith('--') || i + 1 >= argv.length || !KNOWN.has(name.slice(2))) {
      throw new UsageError(`expected --option value pairs of known options, got ${JSON.stringify(name)}`);
    }
    const key = name.slice(2);
    if (REPEATED.has(key)) options[key].push(argv[i + 1]);
    else options[key] = argv[i + 1];
  }
  if (options.code.length === 0) throw new UsageError('give at least one --code');
  if (options.line.length === 0) throw new UsageError('give at least one --line SKU:QTY:UNIT_PRICE');
  if (options['timeout-ms'] !== undefined && !/^[1-9][0-9]{0,6}$/.test(options['timeout-ms'])) {
    throw new UsageError(`--timeout-ms ${JSON.stringify(options['timeout-ms'])}: expected milliseconds, e.g. 5000`);
  }
  return options;
}

// "SHIRT:2:15.00" -> a CartLine of 2 units at 1500 minor units; the SKU may itself hold a colon.
function parseLine(spec, currency) {
  const match = /^(.+):([1-9][0-9]{0,6}):([^:]+)$/.exec(spec);
  if (!match) {
    throw new UsageError(`--line ${JSON.stringify(spec)}: expected SKU:QTY:UNIT_PRICE, e.g. SHIRT:2:15.00`);
  }
  const [, sku, quantity, price] = match;
  let unitPrice;
  try {
    unitPrice = parseAmount(price, currency, { requireDecimals: true });
  } catch (error) {
    throw new UsageError(`--line ${JSON.stringify(spec)}: the unit price ${error.message}`);
  }
  return cartLine(sku, quantity, unitPrice, currency);
}

// "0:1" -> a ReturnedLine (line index, units).
function parseReturnedLine(spec) {
  const match = /^([0-9]{1,9}):([1-9][0-9]{0,6})$/.exec(spec);
  if (!match) throw new UsageError(`--return-line ${JSON.stringify(spec)}: expected INDEX:QTY, e.g. 0:1`);
  return returnedLine(Number(match[1]), match[2]);
}

function buildCart(options) {
  const currency = options.currency || 'EUR';
  try {
    return cartWithLines(options.line.map((spec) => parseLine(spec, currency)));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error.message); // an unknown currency, or lines beyond an int64 amount
  }
}

function clientFor(options) {
  const caFile = options['ca-file'] || process.env.VOUCHERY_GATEWAY_CA_FILE;
  return new GatewayClient({
    target: options.target || process.env.VOUCHERY_GATEWAY_TARGET || '127.0.0.1:50051',
    apiKey: options['api-key'] || process.env.VOUCHERY_GATEWAY_API_KEY || undefined,
    tls: caFile ? { rootCerts: fs.readFileSync(caFile) } : false,
    deadlineMs: Number(options['timeout-ms'] || 5000),
    locale: options.locale,
  });
}

// What each code did: applied or refused (and why), its discount or, for a gift card, what it pays.
function codeResults(basket) {
  return basket.codes.map((code) => ({
    voucher_code: code.voucher_code,
    applied: code.applied,
    tender: code.tender,
    discount: code.discount,
    ...(code.applied ? {} : { rejection: code.rejection }),
    ...(code.redemption ? { redemption_id: code.redemption.id, state: code.redemption.state } : {}),
  }));
}

async function basket(options, cart, returnLines) {
  const client = clientFor(options);
  const codes = options.code;
  const customerId = options.customer || '';
  const transactionId = options['transaction-id'] || `NODE-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const validation = await client.validateBasket({ voucher_codes: codes, cart, customer_id: customerId });
    if (!validation.basket.accepted) {
      return { exitCode: 3, result: { step: 'validate', accepted: false, codes: codeResults(validation.basket) } };
    }
    // The retry-safe part: the same transaction_id and codes may be sent again after a timeout; the
    // gateway replays the first answer. All-or-nothing: a code refused now releases the others.
    const redeemed = await client.redeemBasket({ transaction_id: transactionId, voucher_codes: codes, cart, customer_id: customerId });
    if (!redeemed.basket.accepted) {
      return { exitCode: 3, result: { step: 'redeem', transaction_id: transactionId, accepted: false, codes: codeResults(redeemed.basket) } };
    }
    // ... the till takes payment of amount_due here ...
    const confirmed = (await client.confirmBasket({ transaction_id: transactionId })).basket;
    const returned = returnLines.length === 0 ? undefined : await giveBack(client, transactionId, options, returnLines);
    return {
      exitCode: 0,
      result: {
        ...(returned ? { returned } : {}),
        transaction_id: transactionId,
        redeemed_state: redeemed.basket.state,
        state: confirmed.state,
        sync_state: confirmed.sync_state,
        codes: codeResults(confirmed),
        lines: confirmed.lines,
        total: confirmed.total,
        discount: confirmed.discount,
        shipping_discount: confirmed.shipping_discount,
        gift_card_tender: confirmed.gift_card_tender,
        amount_due: confirmed.amount_due,
      },
    };
  } finally {
    client.close();
  }
}

// The return: a retry sends the same return id and lines and gets the first answer again.
async function giveBack(client, transactionId, options, lines) {
  const request = {
    transaction_id: transactionId,
    return_id: options['return-id'] || `RET-${crypto.randomUUID().slice(0, 8)}`,
    lines,
  };
  const saleReturn = (await client.returnItems(request)).sale_return;
  return {
    return_id: saleReturn.return_id,
    lines: saleReturn.lines,
    refund: saleReturn.refund,
    deduction: saleReturn.deduction,
    codes: saleReturn.codes.map((code) => ({ voucher_code: code.voucher_code, outcome: code.outcome })),
    points_revoked: saleReturn.points_revoked,
    sale_fully_returned: saleReturn.sale_fully_returned,
    sync_state: saleReturn.sync_state,
  };
}

async function main() {
  let options;
  let cart;
  let returnLines;
  try {
    options = parseArgs(process.argv.slice(2));
    cart = buildCart(options);
    returnLines = options['return-line'].map(parseReturnedLine);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`basket.js: ${error.message}\n`);
    return 2;
  }
  try {
    const { exitCode, result } = await basket(options, cart, returnLines);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return exitCode;
  } catch (error) {
    const shown = error instanceof GatewayError ? error.toJSON() : { code: 'CLIENT', details: String(error) };
    process.stdout.write(`${JSON.stringify({ error: shown })}\n`);
    return 1;
  }
}

main().then((code) => { process.exitCode = code; });
