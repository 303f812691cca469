// Every RPC against a live gateway on the sandbox, started by the test harness
// (tests/e2e/client/test_node_client.py), which passes it in the environment:
//   VOUCHERY_TEST_GATEWAY_TARGET          a gateway with a keys file (live sandbox upstream)
//   VOUCHERY_TEST_GATEWAY_KEY             a `till` key of it
//   VOUCHERY_TEST_GATEWAY_READER_KEY      a `reader` key of it
//   VOUCHERY_TEST_LIMITED_GATEWAY_TARGET  the same keys, rate limited to 1 call/s with a burst of 1
// Without them these tests skip: `npm test` alone runs the unit tests.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  GatewayClient,
  GatewayError,
  cartLine,
  cartWithLines,
  money,
  returnedLine,
  simpleCart,
  timestampToDate,
  toRejectionReason,
  type RetryEvent,
} from '../dist';

const TARGET = process.env.VOUCHERY_TEST_GATEWAY_TARGET ?? '';
const KEY = process.env.VOUCHERY_TEST_GATEWAY_KEY ?? '';
const READER_KEY = process.env.VOUCHERY_TEST_GATEWAY_READER_KEY ?? '';
const LIMITED_TARGET = process.env.VOUCHERY_TEST_LIMITED_GATEWAY_TARGET ?? '';
const SKIP = TARGET && KEY ? false : 'no live gateway: run `./dev test tests/e2e/client/test_node_client.py`, which starts one';
const RUN = `NT-${randomUUID().slice(0, 8)}`; // transaction ids unique to this run

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  return assert.fail('expected a GatewayError');
}

// Skipped test by test (not the suite), so that the runner counts them as skipped.
const LIVE = { skip: SKIP };
const LIMITED = { skip: LIMITED_TARGET && KEY ? false : SKIP || 'no VOUCHERY_TEST_LIMITED_GATEWAY_TARGET' };

describe('against a live gateway', () => {
  let client: GatewayClient;
  before(() => {
    if (!SKIP) client = new GatewayClient({ target: TARGET, apiKey: KEY, deadlineMs: 10_000 });
  });
  after(() => client?.close());

  it('validates, redeems (a repeat is a replay), confirms and reads a redemption; amounts are strings', LIVE, async () => {
    const cart = simpleCart('4000');
    const check = await client.validateVoucher({ voucher_code: 'SAVE10', cart });
    assert.equal(check.valid, true);
    assert.deepEqual(check.redemption?.discount, { amount: '400', currency_code: 'EUR' });
    assert.equal(check.replay, false);
    const id = `${RUN}-1`;
    const pending = await client.redeemVoucher({ transaction_id: id, voucher_code: 'SAVE10', cart });
    assert.equal(pending.redemption?.state, 'REDEMPTION_STATE_PENDING');
    assert.equal(pending.replay, false);
    assert.match(pending.redemption?.id ?? '', /^[0-9]+$/);
    const again = await client.redeemVoucher({ transaction_id: id, voucher_code: 'SAVE10', cart });
    assert.equal(again.replay, true);
    assert.deepEqual(again, pending);
    const confirmed = await client.confirmRedemption({ transaction_id: id });
    assert.equal(confirmed.redemption?.state, 'REDEMPTION_STATE_CONFIRMED');
    assert.ok(timestampToDate(confirmed.redemption?.confirmed_at) instanceof Date);
    const read = await client.getRedemption({ transaction_id: id });
    assert.equal(read.redemption?.id, pending.redemption?.id);
    assert.equal(read.redemption?.sync_state, 'SYNC_STATE_SYNCED');
  });

  it('cancels a pending redemption and reads a voucher', LIVE, async () => {
    const id = `${RUN}-2`;
    await client.redeemVoucher({ transaction_id: id, voucher_code: 'FIVEOFF', cart: simpleCart(2500n) });
    const cancelled = await client.cancelRedemption({ transaction_id: id });
    assert.equal(cancelled.redemption?.state, 'REDEMPTION_STATE_CANCELLED');
    const { voucher } = await client.getVoucher({ voucher_code: 'GIFT-50' });
    assert.equal(voucher?.code, 'GIFT-50', JSON.stringify(voucher));
    assert.deepEqual(voucher?.gift_card_value, { amount: '5000', currency_code: 'EUR' }, JSON.stringify(voucher));
  });

  it('turns a refused write into a GatewayError whose rejection matches what validation answers', LIVE, async () => {
    const cart = simpleCart('4000');
    const validation = await client.validateVoucher({ voucher_code: 'EXPIRED-1', cart });
    assert.equal(validation.valid, false);
    const request = { transaction_id: `${RUN}-3`, voucher_code: 'EXPIRED-1', cart };
    const error = await failure(client.redeemVoucher(request, { locale: 'de', requestId: `${RUN}-req-3` }));
    assert.equal(error.codeName, 'FAILED_PRECONDITION');
    assert.equal(error.reason, 'VOUCHER_EXPIRED');
    assert.equal(error.domain, 'vouchery');
    assert.equal(error.voucheryCode, '1001');
    assert.equal(error.locale, 'de');
    assert.ok(error.localizedMessage && error.localizedMessage !== error.details, error.localizedMessage);
    assert.equal(error.rejection?.reason, 'REJECTION_REASON_VOUCHER_EXPIRED');
    assert.equal(error.rejection?.reason, validation.rejection?.reason);
    assert.equal(error.rejection?.vouchery_code, validation.rejection?.vouchery_code);
    assert.equal(toRejectionReason(error.reason), validation.rejection?.reason);
    assert.equal(error.requestId, `${RUN}-req-3`);
    assert.equal(error.attempts, 1);
    assert.equal(error.replay, false);
    const again = await failure(client.redeemVoucher(request));
    assert.equal(again.replay, true);
    assert.equal(again.rejection?.reason, 'REJECTION_REASON_VOUCHER_EXPIRED');
  });

  it('turns bad fields into fieldViolations, sent once', LIVE, async () => {
    const error = await failure(
      client.redeemVoucher({ transaction_id: 'bad id with spaces', voucher_code: '', cart: { total: money(0, 'EUR') } }),
    );
    assert.equal(error.codeName, 'INVALID_ARGUMENT');
    const fields = new Set(error.fieldViolations.map((violation) => violation.field));
    assert.ok(fields.has('transaction_id') && fields.has('voucher_code'), [...fields].join(', '));
    assert.equal(error.attempts, 1);
  });

  it('refuses a float amount before sending, and keeps int64 exact past 2^53', LIVE, async () => {
    await assert.rejects(
      client.validateVoucher({ voucher_code: 'SAVE10', cart: { total: { amount: 2500.5, currency_code: 'EUR' } } }),
      TypeError,
    );
    const error = await failure(client.validateVoucher({ voucher_code: 'SAVE10', cart: simpleCart(9007199254740993n) }));
    assert.equal(error.codeName, 'INVALID_ARGUMENT'); // above 10^13: the gateway names the field
    assert.ok(error.fieldViolations.some((violation) => violation.field === 'cart.total.amount'));
  });

  it('says UNAUTHENTICATED without a key and PERMISSION_DENIED for a reader that writes', LIVE, async () => {
    const anonymous = new GatewayClient({ target: TARGET });
    const reader = new GatewayClient({ target: TARGET, apiKey: READER_KEY });
    try {
      assert.equal((await failure(anonymous.getVoucher({ voucher_code: 'SAVE10' }))).codeName, 'UNAUTHENTICATED');
      const { voucher } = await reader.getVoucher({ voucher_code: 'SAVE10' });
      assert.equal(voucher?.code, 'SAVE10');
      const denied = await failure(reader.confirmRedemption({ transaction_id: `${RUN}-1` }));
      assert.equal(denied.codeName, 'PERMISSION_DENIED');
    } finally {
      anonymous.close();
      reader.close();
    }
  });

  it('validates, redeems, confirms, reads and takes back a basket sale; cancels another', LIVE, async () => {
    const cart = cartWithLines([cartLine('SHIRT', 2, '1500'), cartLine('SHOES', 1, '2000')]);
    const codes = ['SAVE10', 'GIFT-50', 'FIVEOFF'];
    const { basket: check } = await client.validateBasket({ voucher_codes: codes, cart });
    assert.equal(check?.accepted, true);
    const id = `${RUN}-B1`;
    const { basket: pending } = await client.redeemBasket({ transaction_id: id, voucher_codes: codes, cart });
    assert.equal(pending?.state, 'REDEMPTION_STATE_PENDING');
    const { basket: confirmed } = await client.confirmBasket({ transaction_id: id });
    assert.deepEqual(
      confirmed?.codes.map((code) => [code.voucher_code, code.tender, code.discount?.amount]),
      [
        ['FIVEOFF', false, '500'],
        ['SAVE10', false, '450'],
        ['GIFT-50', true, '4050'],
      ],
    );
    assert.deepEqual(confirmed?.amount_due, { amount: '0', currency_code: 'EUR' });
    const { basket: read } = await client.getBasket({ transaction_id: id });
    assert.equal(read?.state, 'REDEMPTION_STATE_CONFIRMED');
    const giveBack = { transaction_id: id, return_id: `${RUN}-R1`, lines: [returnedLine(0, 1)] };
    const returned = await client.returnItems(giveBack);
    assert.equal(returned.sale_return?.lines[0]?.quantity, '1');
    assert.match(returned.sale_return?.refund?.amount ?? '', /^[1-9][0-9]*$/);
    const replayed = await client.returnItems(giveBack);
    assert.equal(replayed.replay, true);
    assert.deepEqual(replayed, returned);
    const other = `${RUN}-B2`;
    await client.redeemBasket({ transaction_id: other, voucher_codes: ['ONCE-1'], cart: simpleCart('3000') });
    const { basket: cancelled } = await client.cancelBasket({ transaction_id: other });
    assert.equal(cancelled?.state, 'REDEMPTION_STATE_CANCELLED');
  });

  it('reads and moves loyalty points, each write idempotent on its request id', LIVE, async () => {
    const { account } = await client.getLoyaltyAccount({ customer_id: 'alice' });
    assert.equal(account?.customer_id, 'alice');
    const before = BigInt(account?.balance ?? '0');
    const grant = { request_id: `${RUN}-G1`, customer_id: 'alice', points: 10, reason: 'welcome' };
    const granted = await client.grantPoints(grant);
    const again = await client.grantPoints(grant);
    assert.equal(again.replay, true);
    assert.deepEqual(again, granted);
    assert.equal(BigInt(granted.change?.balance ?? '-1'), before + 10n);
    const refused = await failure(client.revokePoints({ request_id: `${RUN}-V1`, customer_id: 'alice', points: '1000000000' }));
    assert.equal(refused.reason, 'NOT_ENOUGH_POINTS');
    assert.equal(refused.rejection?.reason, 'REJECTION_REASON_NOT_ENOUGH_POINTS');
    const activity = await client.listPointsActivity({ customer_id: 'alice', page_size: 5 });
    assert.ok(activity.activities.length > 0 && activity.activities.length <= 5);
    const purchase = await client.recordTransaction({ transaction_id: `${RUN}-L1`, customer_id: 'alice', cart: simpleCart('4250') });
    assert.equal(purchase.transaction_id, `${RUN}-L1`);
    assert.equal(purchase.points_earned, '42');
    const { offers, balance } = await client.listPointsOffers({ customer_id: 'alice' });
    const offer = offers[0];
    assert.ok(offer && offer.affordable, JSON.stringify(offers));
    const bought = await client.exchangePoints({ request_id: `${RUN}-X1`, customer_id: 'alice', campaign_id: offer.campaign_id });
    assert.equal(bought.points_spent, offer.points_price);
    assert.equal(BigInt(bought.balance), BigInt(balance) - BigInt(offer.points_price));
  });

  it('reads customers and their vouchers; an unknown customer is NOT_FOUND', LIVE, async () => {
    const { customer } = await client.getCustomer({ customer_id: 'bob' });
    assert.equal(customer?.customer_id, 'bob');
    assert.match(customer?.loyalty_points ?? '', /^[0-9]+$/);
    const assigned = await client.listCustomerVouchers({ customer_id: 'alice', page_size: 10 });
    assert.ok(Array.isArray(assigned.vouchers));
    const available = await client.listAvailableVouchers({ customer_id: 'alice' });
    assert.ok(Array.isArray(available.vouchers));
    assert.equal((await failure(client.getCustomer({ customer_id: 'nobody-at-all' }))).codeName, 'NOT_FOUND');
  });
});

describe('against a rate-limited live gateway', () => {
  it('waits RetryInfo delay of RESOURCE_EXHAUSTED and succeeds with the same request', LIMITED, async () => {
    const retries: RetryEvent[] = [];
    const client = new GatewayClient({
      target: LIMITED_TARGET,
      apiKey: KEY,
      deadlineMs: 10_000,
      retry: { maxAttempts: 5, onRetry: (event) => retries.push(event) },
    });
    try {
      await client.getVoucher({ voucher_code: 'SAVE10' }); // takes the one token
      const answer = await client.getVoucher({ voucher_code: 'SAVE10' });
      assert.equal(answer.voucher?.code, 'SAVE10');
      assert.ok(answer.attempts >= 2, `attempts ${answer.attempts}`);
      assert.equal(retries[0]?.error.reason, 'RATE_LIMITED');
      assert.equal(retries[0]?.delayMs, retries[0]?.error.retryAfterMs);
      assert.ok((retries[0]?.delayMs ?? 0) > 0);
    } finally {
      client.close();
    }
  });

  it('does not wait when the delay does not fit in the deadline: the error says how long', LIMITED, async () => {
    const client = new GatewayClient({ target: LIMITED_TARGET, apiKey: KEY, deadlineMs: 300 });
    try {
      await client.getVoucher({ voucher_code: 'SAVE10' }, { deadlineMs: 5000, retry: { maxAttempts: 5 } });
      const error = await failure(client.getVoucher({ voucher_code: 'SAVE10' }));
      assert.equal(error.codeName, 'RESOURCE_EXHAUSTED');
      assert.equal(error.reason, 'RATE_LIMITED');
      assert.ok((error.retryAfterMs ?? 0) > 0);
      assert.equal(error.attempts, 1);
      assert.equal(error.retryable, true);
    } finally {
      client.close();
    }
  });
});
