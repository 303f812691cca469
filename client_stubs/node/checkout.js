#!/usr/bin/env node
// A two-step checkout against the vouchery-pos-gateway with @vouchery/gateway-client: validate the
// voucher, redeem it (PENDING, the voucher is reserved), take payment, then confirm. Prints one JSON
// object with every step's answer.
//
//   node checkout.js --target 127.0.0.1:50051 --code SAVE10 --total 40.00 --currency EUR
//   VOUCHERY_GATEWAY_TARGET=gw:50051 VOUCHERY_GATEWAY_API_KEY=vgk_... node checkout.js --code SAVE10
//
// Options (flags win over the environment):
//   --target / VOUCHERY_GATEWAY_TARGET      gateway host:port (default 127.0.0.1:50051)
//   --api-key / VOUCHERY_GATEWAY_API_KEY    caller key, sent as "authorization: Bearer ..." (optional)
//   --ca-file / VOUCHERY_GATEWAY_CA_FILE    PEM CA: use TLS and verify the gateway with it (optional)
//   --total AMOUNT                          the cart total in the currency's unit, with its decimals:
//                                           40.00 is forty euros (as `vouchery-gateway call --total`);
//                                           a bare whole number such as 4000 is refused as ambiguous
//   --code, --currency, --transaction-id, --customer, --locale (cashier texts, e.g. de), --timeout-ms
// Exit code: 0 confirmed, 3 voucher not valid, 1 any error (printed with its gRPC status), 2 bad options.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { GatewayClient, GatewayError, money, parseAmount } = require('@vouchery/gateway-client');

const KNOWN = new Set([
  'target', 'api-key', 'ca-file', 'code', 'total', 'currency', 'transaction-id', 'customer', 'locale', 'timeout-ms',
]);

class UsageError extends Error {}

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    if (!name.startsWith('--') || i + 1 >= argv.length || !KNOWN.has(name.slice(2))) {
      throw new UsageError(`expected --option value pairs of known options, got ${JSON.stringify(name)}`);
    }
    options[name.slice(2)] = argv[i + 1];
  }
  return options;
}

// The cart of --total (decimal, in the currency's unit) and --currency, exact in minor units.
function buildCart(options) {
  const currency = options.currency || 'EUR';
  const text = options.total || '40.00';
  try {
    return { total: money(parseAmount(text, currency, { requireDecimals: true }), currency) };
  } catch (error) {
    throw new UsageError(`--total ${JSON.stringify(text)}: ${error.message}`);
  }
}

function timeoutMs(options) {
  const text = options['timeout-ms'] || '5000';
  if (!/^[1-9][0-9]{0,6}$/.test(text)) throw new UsageError(`--timeout-ms ${JSON.stringify(text)}: expected milliseconds, e.g. 5000`);
  return Number(text);
}

function clientFor(options) {
  const caFile = options['ca-file'] || process.env.VOUCHERY_GATEWAY_CA_FILE;
  return new GatewayClient({
    target: options.target || process.env.VOUCHERY_GATEWAY_TARGET || '127.0.0.1:50051',
    apiKey: options['api-key'] || process.env.VOUCHERY_GATEWAY_API_KEY || undefined,
    tls: caFile ? { rootCerts: fs.readFileSync(caFile) } : false,
    deadlineMs: timeoutMs(options),
    locale: options.locale,
  });
}

async function checkout(options, cart) {
  const client = clientFor(options);
  const code = options.code || 'SAVE10';
  const customerId = options.customer || '';
  const transactionId = options['transaction-id'] || `NODE-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const validation = await client.validateVoucher({ voucher_code: code, cart, customer_id: customerId });
    if (!validation.valid) {
      return { exitCode: 3, result: { step: 'validate', valid: false, rejection: validation.rejection } };
    }
    // Safe to send again with the same transaction_id: the client itself does so when the gateway is
    // unavailable for a moment, and the gateway answers a repeat with the first answer (`replay`).
    const redeemed = await client.redeemVoucher({ transaction_id: transactionId, voucher_code: code, cart, customer_id: customerId });
    // ... the till takes payment here ...
    const confirmed = await client.confirmRedemption({ transaction_id: transactionId });
    return {
      exitCode: 0,
      result: {
        transaction_id: transactionId,
        discount: validation.redemption.discount,
        redeemed_state: redeemed.redemption.state,
        state: confirmed.redemption.state,
        sync_state: confirmed.redemption.sync_state,
        redemption_id: confirmed.redemption.id,
        replay: confirmed.replay,
      },
    };
  } finally {
    client.close();
  }
}

async function main() {
  let options;
  let cart;
  try {
    options = parseArgs(process.argv.slice(2));
    cart = buildCart(options);
    timeoutMs(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`checkout.js: ${error.message}\n`);
    return 2;
  }
  try {
    const { exitCode, result } = await checkout(options, cart);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return exitCode;
  } catch (error) {
    const shown = error instanceof GatewayError ? error.toJSON() : { code: 'CLIENT', details: String(error) };
    process.stdout.write(`${JSON.stringify({ error: shown })}\n`);
    return 1;
  }
}

main().then((code) => { process.exitCode = code; });
