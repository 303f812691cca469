#!/usr/bin/env node
// A sale with several voucher codes against the vouchery-pos-gateway: validate the basket, redeem it
// (PENDING, every code reserved), take payment, then confirm every code; with --return-line, then take
// those units back (ReturnItems). Prints one JSON object with what each code did, what each cart line
// costs after its discounts, the totals and, for a return, the refund per line and what became of
// each code.
//
//   node basket.js --target 127.0.0.1:50051 --code SAVE10 --code FIVEOFF --code GIFT-50 \
//       --line SHIRT:2:1500 --line SHOES:1:2000
//
// Options (flags win over the environment):
//   --target / VOUCHERY_GATEWAY_TARGET      gateway host:port (default 127.0.0.1:50051)
//   --api-key / VOUCHERY_GATEWAY_API_KEY    caller key, sent as "authorization: Bearer ..." (optional)
//   --ca-file / VOUCHERY_GATEWAY_CA_FILE    PEM CA: use TLS and verify the gateway with it (optional)
//   --code CODE                             a voucher code; repeat it for each code (at least one)
//   --line SKU:QTY:UNIT_PRICE               a cart line, the price in minor units (1500 = 15.00 EUR);
//                                           repeat it for each line (at least one); the total is their sum
//   --return-line INDEX:QTY                 after the confirm, return QTY units of cart line INDEX (0-based);
//                                           repeat it for each line; the return's id is --return-id
//                                           (default RET-<random>), which makes the return safe to retry
//   --currency, --transaction-id, --customer, --timeout-ms, --return-id
// Money is int64 minor units, kept as strings (never a JavaScript number) in and out.
// Exit code: 0 confirmed, 3 a code was refused (each code's result is printed), 1 any error (printed with
// its gRPC status), 2 bad options.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.VOUCHERY_PROTO_DIR || path.resolve(__dirname, '..', '..', 'proto');
// checkout.proto imports buf/validate/validate.proto (its field rules), vendored beside proto/.
const THIRD_PARTY_PROTO_DIR = path.resolve(__dirname, '..', '..', 'third_party', 'proto');
const REPEATED = new Set(['code', 'line', 'return-line']);
const KNOWN = new Set([
  ...REPEATED, 'target', 'api-key', 'ca-file', 'currency', 'transaction-id', 'customer', 'timeout-ms', 'return-id',
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
  return options;
}

// "SHIRT:2:1500" -> a CartLine; the quantity and the price stay exact (strings, summed as BigInt).
function cartLine(spec, currency) {
  const match = /^(.+):([1-9][0-9]{0,17}):([0-9]{1,18})$/.exec(spec);
  if (!match) {
    throw new UsageError(`--line ${JSON.stringify(spec)}: expected SKU:QTY:UNIT_PRICE in minor units, e.g. SHIRT:2:1500`);
  }
  const [, sku, quantity, unitPrice] = match;
  return { sku, product_id: sku, quantity, unit_price: { amount: unitPrice, currency_code: currency } };
}

// "0:1" -> a ReturnedLine (line index, units); exact as strings.
function returnedLine(spec) {
  const match = /^([0-9]{1,9}):([1-9][0-9]{0,17})$/.exec(spec);
  if (!match) throw new UsageError(`--return-line ${JSON.stringify(spec)}: expected INDEX:QTY, e.g. 0:1`);
  return { line_index: Number(match[1]), quantity: match[2] };
}

function buildCart(options) {
  const currency = options.currency || 'EUR';
  const lines = options.line.map((spec) => cartLine(spec, currency));
  const total = lines.reduce((sum, line) => sum + BigInt(line.quantity) * BigInt(line.unit_price.amount), 0n);
  if (total > 2n ** 63n - 1n) throw new UsageError('the lines add up to more than an int64 amount');
  return { total: { amount: total.toString(), currency_code: currency }, lines };
}

function loadCheckoutService() {
  const definition = protoLoader.loadSync('vouchery/gateway/v1/checkout.proto', {
    includeDirs: [PROTO_DIR, THIRD_PARTY_PROTO_DIR],
    keepCase: true,
    longs: String, // int64 money stays exact
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).vouchery.gateway.v1.CheckoutService;
}

function credentials(caFile) {
  return caFile ? grpc.credentials.createSsl(fs.readFileSync(caFile)) : grpc.credentials.createInsecure();
}

// One unary call as a promise, with a deadline, the key and a request id.
function call(client, method, request, { apiKey, timeoutMs }) {
  const metadata = new grpc.Metadata();
  metadata.set('x-request-id', crypto.randomUUID());
  if (apiKey) metadata.set('authorization', `Bearer ${apiKey}`);
  const deadline = new Date(Date.now() + timeoutMs);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
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

async function basket(options) {
  const target = options.target || process.env.VOUCHERY_GATEWAY_TARGET || '127.0.0.1:50051';
  const settings = {
    apiKey: options['api-key'] || process.env.VOUCHERY_GATEWAY_API_KEY || '',
    timeoutMs: Number(options['timeout-ms'] || 5000),
  };
  const cart = buildCart(options);
  const CheckoutService = loadCheckoutService();
  const client = new CheckoutService(target, credentials(options['ca-file'] || process.env.VOUCHERY_GATEWAY_CA_FILE));
  const codes = options.code;
  const customerId = options.customer || '';
  const transactionId = options['transaction-id'] || `NODE-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const validation = await call(client, 'ValidateBasket', { voucher_codes: codes, cart, customer_id: customerId }, settings);
    if (!validation.basket.accepted) {
      return { exitCode: 3, result: { step: 'validate', accepted: false, codes: codeResults(validation.basket) } };
    }
    // The retry-safe part: the same transaction_id and codes may be sent again after a timeout; the
    // gateway replays the first answer. All-or-nothing: a code refused now releases the others.
    const redeemed = await call(
      client, 'RedeemBasket', { transaction_id: transactionId, voucher_codes: codes, cart, customer_id: customerId }, settings,
    );
    if (!redeemed.basket.accepted) {
      return { exitCode: 3, result: { step: 'redeem', transaction_id: transactionId, accepted: false, codes: codeResults(redeemed.basket) } };
    }
    // ... the till takes payment of amount_due here ...
    const confirmed = (await call(client, 'ConfirmBasket', { transaction_id: transactionId }, settings)).basket;
    const returned = options['return-line'].length === 0 ? undefined : await giveBack(client, transactionId, options, settings);
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
async function giveBack(client, transactionId, options, settings) {
  const request = {
    transaction_id: transactionId,
    return_id: options['return-id'] || `RET-${crypto.randomUUID().slice(0, 8)}`,
    lines: options['return-line'].map(returnedLine),
  };
  const saleReturn = (await call(client, 'ReturnItems', request, settings)).sale_return;
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
  try {
    options = parseArgs(process.argv.slice(2));
    buildCart(options);
    options['return-line'].forEach(returnedLine);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`basket.js: ${error.message}\n`);
    return 2;
  }
  try {
    const { exitCode, result } = await basket(options);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return exitCode;
  } catch (error) {
    const status = Object.keys(grpc.status).find((name) => grpc.status[name] === error.code) || 'UNKNOWN';
    process.stdout.write(`${JSON.stringify({ error: { code: status, message: error.details || String(error) } })}\n`);
    return 1;
  }
}

main().then((code) => { process.exitCode = code; });
