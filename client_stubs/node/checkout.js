#!/usr/bin/env node
// A two-step checkout against the vouchery-pos-gateway: validate the voucher, redeem it (PENDING, the
// voucher is reserved), take payment, then confirm. Prints one JSON object with every step's answer.
//
//   node checkout.js --target 127.0.0.1:50051 --code SAVE10 --total 4000 --currency EUR
//   VOUCHERY_GATEWAY_TARGET=gw:50051 VOUCHERY_GATEWAY_API_KEY=vgk_... node checkout.js --code SAVE10
//
// Options (flags win over the environment):
//   --target / VOUCHERY_GATEWAY_TARGET      gateway host:port (default 127.0.0.1:50051)
//   --api-key / VOUCHERY_GATEWAY_API_KEY    caller key, sent as "authorization: Bearer ..." (optional)
//   --ca-file / VOUCHERY_GATEWAY_CA_FILE    PEM CA: use TLS and verify the gateway with it (optional)
//   --code, --total (minor units), --currency, --transaction-id, --customer, --timeout-ms
// Exit code: 0 confirmed, 3 voucher not valid, 1 any error (printed with its gRPC status).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.VOUCHERY_PROTO_DIR || path.resolve(__dirname, '..', '..', 'proto');
// checkout.proto imports buf/validate/validate.proto (its field rules), vendored beside proto/.
const THIRD_PARTY_PROTO_DIR = path.resolve(__dirname, '..', '..', 'third_party', 'proto');

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i];
    if (!name.startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`expected --option value pairs, got ${JSON.stringify(name)}`);
    }
    options[name.slice(2)] = argv[i + 1];
    i += 1;
  }
  return options;
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

async function checkout(options) {
  const target = options.target || process.env.VOUCHERY_GATEWAY_TARGET || '127.0.0.1:50051';
  const settings = {
    apiKey: options['api-key'] || process.env.VOUCHERY_GATEWAY_API_KEY || '',
    timeoutMs: Number(options['timeout-ms'] || 5000),
  };
  const CheckoutService = loadCheckoutService();
  const client = new CheckoutService(target, credentials(options['ca-file'] || process.env.VOUCHERY_GATEWAY_CA_FILE));
  const currency = options.currency || 'EUR';
  const cart = { total: { amount: String(options.total || '4000'), currency_code: currency } };
  const code = options.code || 'SAVE10';
  const customerId = options.customer || '';
  const transactionId = options['transaction-id'] || `NODE-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const validation = await call(client, 'ValidateVoucher', { voucher_code: code, cart, customer_id: customerId }, settings);
    if (!validation.valid) {
      return { exitCode: 3, result: { step: 'validate', valid: false, rejection: validation.rejection } };
    }
    // The retry-safe part: the same transaction_id may be sent again after a timeout; the gateway replays.
    const redeemed = await call(
      client, 'RedeemVoucher', { transaction_id: transactionId, voucher_code: code, cart, customer_id: customerId }, settings,
    );
    // ... the till takes payment here ...
    const confirmed = await call(client, 'ConfirmRedemption', { transaction_id: transactionId }, settings);
    return {
      exitCode: 0,
      result: {
        transaction_id: transactionId,
        discount: validation.redemption.discount,
        redeemed_state: redeemed.redemption.state,
        state: confirmed.redemption.state,
        sync_state: confirmed.redemption.sync_state,
        redemption_id: confirmed.redemption.id,
      },
    };
  } finally {
    client.close();
  }
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`checkout.js: ${error.message}\n`);
    return 2;
  }
  try {
    const { exitCode, result } = await checkout(options);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return exitCode;
  } catch (error) {
    const status = Object.keys(grpc.status).find((name) => grpc.status[name] === error.code) || 'UNKNOWN';
    process.stdout.write(`${JSON.stringify({ error: { code: status, message: error.details || String(error) } })}\n`);
    return 1;
  }
}

main().then((code) => { process.exitCode = code; });
