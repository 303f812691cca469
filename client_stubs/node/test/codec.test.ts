// Requests are checked field by field before they are encoded; answers decode int64 as strings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkMessage, decodeMessage, encodeMessage, messageType, type ValidateVoucherRequestInput } from '../dist';

const VALIDATE = messageType('vouchery.gateway.v1.ValidateVoucherRequest');
const REDEMPTION = messageType('vouchery.gateway.v1.Redemption');

function request(amount: unknown): unknown {
  return { voucher_code: 'SAVE10', cart: { total: { amount, currency_code: 'EUR' } } };
}

describe('encodeMessage', () => {
  it('sends int64 given as a string, a BigInt or a safe number as the same exact bytes', () => {
    const fromString = encodeMessage(VALIDATE, request('2500'));
    assert.deepEqual(encodeMessage(VALIDATE, request(2500n)), fromString);
    assert.deepEqual(encodeMessage(VALIDATE, request(2500)), fromString);
    const big = decodeMessage<{ cart: { total: { amount: string } } }>(VALIDATE, encodeMessage(VALIDATE, request(2n ** 63n - 1n)));
    assert.equal(big.cart.total.amount, '9223372036854775807');
  });

  it('refuses 2500.5 (protobufjs would send 2500) with a TypeError naming the field', () => {
    assert.throws(() => encodeMessage(VALIDATE, request(2500.5)), {
      name: 'TypeError',
      message: /^ValidateVoucherRequest\.cart\.total\.amount: 2500\.5 is not an integer/,
    });
    assert.throws(() => encodeMessage(VALIDATE, request(2 ** 53 + 2)), TypeError);
    assert.throws(() => encodeMessage(VALIDATE, request('12abc')), TypeError);
    assert.throws(() => encodeMessage(VALIDATE, request(true)), TypeError);
    assert.throws(() => encodeMessage(VALIDATE, request(2n ** 63n)), RangeError);
  });

  it('refuses a field the message does not have, hinting at the proto name', () => {
    assert.throws(() => encodeMessage(VALIDATE, { voucherCode: 'SAVE10' }), {
      name: 'TypeError',
      message: /has no field "voucherCode" \(did you mean voucher_code\?\)/,
    });
  });

  it('refuses values of the wrong kind instead of converting them', () => {
    const basket = messageType('vouchery.gateway.v1.ValidateBasketRequest');
    assert.throws(() => encodeMessage(basket, { voucher_codes: 'SAVE10' }), /is not an array/);
    assert.throws(() => encodeMessage(basket, { voucher_codes: [1] }), /is not a string/);
    const redeem = messageType('vouchery.gateway.v1.RedeemVoucherRequest');
    assert.throws(() => encodeMessage(redeem, { confirm: 'false' }), /is not a boolean/);
    const returned = messageType('vouchery.gateway.v1.ReturnedLine');
    assert.throws(() => encodeMessage(returned, { line_index: 0.5 }), /is not an integer/);
    assert.throws(() => encodeMessage(returned, { line_index: 2 ** 31 }), RangeError);
    assert.throws(() => encodeMessage(VALIDATE, { cart: new Date() }), /is not a plain object/);
    assert.throws(() => encodeMessage(VALIDATE, { cart: [] }), /is not a plain object/);
    assert.throws(() => encodeMessage(REDEMPTION, { state: 'CONFIRMED' }), /is not a value of RedemptionState/);
  });

  it('takes enums by name or number, and undefined or null as unset', () => {
    const byName = encodeMessage(REDEMPTION, { state: 'REDEMPTION_STATE_CONFIRMED', discount: null, id: undefined });
    assert.deepEqual(encodeMessage(REDEMPTION, { state: 2 }), byName);
    assert.deepEqual(checkMessage(VALIDATE, { voucher_code: 'A', customer_id: undefined }), { voucher_code: 'A' });
  });
});

describe('decodeMessage', () => {
  it('gives int64 as decimal strings, enums by name, unset messages as null, unset optionals absent', () => {
    const bytes = encodeMessage(REDEMPTION, {
      transaction_id: 'T-1',
      state: 'REDEMPTION_STATE_PENDING',
      total: { amount: '9007199254740993', currency_code: 'EUR' },
    });
    const decoded = decodeMessage<Record<string, unknown>>(REDEMPTION, bytes);
    assert.deepEqual(decoded.total, { amount: '9007199254740993', currency_code: 'EUR' });
    assert.equal(decoded.state, 'REDEMPTION_STATE_PENDING');
    assert.equal(decoded.discount, null);
    assert.equal('id' in decoded, false);
    assert.equal(decoded.accepted_offline, false);
  });

  it('gives an enum value newer than these protos as its number', () => {
    const bytes = REDEMPTION.encode(REDEMPTION.fromObject({ state: 99 })).finish();
    assert.equal(decodeMessage<{ state: unknown }>(REDEMPTION, bytes).state, 99);
  });
});

// Compile-time checks of the generated input types (this file must compile).
export const typed: ValidateVoucherRequestInput[] = [
  { voucher_code: 'SAVE10', cart: { total: { amount: 2500n, currency_code: 'EUR' } } },
  { voucher_code: 'SAVE10', cart: { total: { amount: '2500', currency_code: 'EUR' } }, customer_id: 'alice' },
  // @ts-expect-error -- a field the message does not have
  { voucher_code: 'SAVE10', cart: { total: { amount: '1', currency_code: 'EUR' } }, voucherCode: 'x' },
  // @ts-expect-error -- cart is required (buf.validate) and so required in the type
  { voucher_code: 'SAVE10' },
  // @ts-expect-error -- an amount is never a boolean
  { voucher_code: 'SAVE10', cart: { total: { amount: true, currency_code: 'EUR' } } },
];
