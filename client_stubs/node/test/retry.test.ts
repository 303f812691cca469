// Retries against a fake gateway: the same request bytes (same transaction id, same x-request-id) sent
// again after RetryInfo's delay, within the call's deadline and attempts; never for a refusal.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_RETRY, GatewayClient, GatewayError, METHODS, retryDelayMs, simpleCart, type RetryEvent } from '../dist';
import { errorInfo, fakeGateway, retryInfo, type FakeGateway } from './support';

const REDEEMED = {
  redemption: {
    id: '41',
    transaction_id: 'T-1',
    voucher_code: 'SAVE10',
    state: 'REDEMPTION_STATE_PENDING',
    discount: { amount: '250', currency_code: 'EUR' },
  },
};
const REQUEST = { transaction_id: 'T-1', voucher_code: 'SAVE10', cart: simpleCart('2500') };

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  return assert.fail('expected a GatewayError');
}

describe('retryDelayMs', () => {
  const policy = { ...DEFAULT_RETRY, initialBackoffMs: 100, maxBackoffMs: 1000 };
  const status = (code: grpc.status, retryAfterMs?: number) => ({ code, retryAfterMs });

  it('waits RetryInfo delay when given, else a jittered doubling backoff capped at maxBackoffMs', () => {
    assert.equal(retryDelayMs(status(grpc.status.UNAVAILABLE, 750), 1, policy), 750);
    assert.equal(retryDelayMs(status(grpc.status.UNAVAILABLE), 1, policy, () => 0), 50);
    assert.equal(retryDelayMs(status(grpc.status.UNAVAILABLE), 2, policy, () => 1), 200);
    assert.equal(retryDelayMs(status(grpc.status.UNAVAILABLE), 2, { ...policy, maxAttempts: 10 }, () => 1), 200);
    assert.equal(retryDelayMs(status(grpc.status.UNAVAILABLE), 9, { ...policy, maxAttempts: 10 }, () => 1), 1000);
  });

  it('retries RESOURCE_EXHAUSTED and ABORTED only with RetryInfo, and never a refusal', () => {
    assert.equal(retryDelayMs(status(grpc.status.RESOURCE_EXHAUSTED, 300), 1, policy), 300);
    assert.equal(retryDelayMs(status(grpc.status.ABORTED, 300), 1, policy), 300);
    assert.equal(retryDelayMs(status(grpc.status.RESOURCE_EXHAUSTED), 1, policy), undefined);
    assert.equal(retryDelayMs(status(grpc.status.ABORTED), 1, policy), undefined);
    for (const code of [
      grpc.status.FAILED_PRECONDITION,
      grpc.status.INVALID_ARGUMENT,
      grpc.status.NOT_FOUND,
      grpc.status.DEADLINE_EXCEEDED,
      grpc.status.UNAUTHENTICATED,
      grpc.status.PERMISSION_DENIED,
      grpc.status.INTERNAL,
    ]) {
      assert.equal(retryDelayMs(status(code, 100), 1, policy), undefined, grpc.status[code]);
    }
  });

  it('stops at maxAttempts', () => {
    assert.equal(retryDelayMs(status(grpc.status.UNAVAILABLE, 10), 3, policy), undefined);
  });
});

describe('GatewayClient retries', () => {
  let gateway: FakeGateway;
  let client: GatewayClient;
  const retries: RetryEvent[] = [];
  let onRetry: ((event: RetryEvent) => void) | undefined;

  before(async () => {
    gateway = await fakeGateway(METHODS.redeemVoucher);
    client = new GatewayClient({
      target: gateway.target,
      deadlineMs: 5000,
      retry: { maxAttempts: 3, initialBackoffMs: 20, maxBackoffMs: 40, onRetry: (event) => {
        retries.push(event);
        onRetry?.(event);
      } },
    });
  });
  afterEach(() => {
    gateway.reset();
    retries.length = 0;
    onRetry = undefined;
  });
  after(async () => {
    client.close();
    await gateway.close();
  });

  it('sends the same bytes and request id again after RetryInfo delay of an UNAVAILABLE, then answers', async () => {
    gateway.script(
      { code: grpc.status.UNAVAILABLE, message: 'Vouchery is unavailable', details: [errorInfo('UPSTREAM_UNAVAILABLE'), retryInfo(200)] },
      { response: REDEEMED },
    );
    const answer = await client.redeemVoucher(REQUEST);
    assert.equal(answer.redemption?.id, '41');
    assert.equal(answer.attempts, 2);
    assert.equal(answer.replay, false);
    const [first, second] = gateway.received;
    assert.ok(first && second);
    assert.deepEqual(second.bytes, first.bytes);
    assert.deepEqual(second.metadata.get('x-request-id'), first.metadata.get('x-request-id'));
    assert.deepEqual(second.metadata.get('x-request-id'), [answer.requestId]);
    assert.ok(second.at - first.at >= 195, `waited ${second.at - first.at} ms, RetryInfo said 200`);
    assert.deepEqual(
      retries.map((event) => [event.method, event.attempt, event.delayMs, event.error.reason]),
      [['RedeemVoucher', 1, 200, 'UPSTREAM_UNAVAILABLE']],
    );
  });

  it('waits out an ABORTED duplicate in flight, and gets the stored answer marked replay', async () => {
    gateway.script(
      { code: grpc.status.ABORTED, message: 'in progress', details: [errorInfo('IDEMPOTENT_REQUEST_IN_PROGRESS'), retryInfo(30)] },
      { response: REDEEMED, trailers: { 'x-idempotent-replay': 'true' } },
    );
    const answer = await client.redeemVoucher(REQUEST);
    assert.equal(answer.replay, true);
    assert.equal(answer.attempts, 2);
    assert.equal(gateway.received.length, 2);
  });

  it('backs off without RetryInfo, and gives up after maxAttempts with the last error', async () => {
    gateway.script(
      { code: grpc.status.UNAVAILABLE, message: 'down 1' },
      { code: grpc.status.UNAVAILABLE, message: 'down 2' },
      { code: grpc.status.UNAVAILABLE, message: 'down 3' },
    );
    const error = await failure(client.redeemVoucher(REQUEST));
    assert.equal(error.details, 'down 3');
    assert.equal(error.attempts, 3);
    assert.equal(gateway.received.length, 3);
    assert.deepEqual(retries.map((event) => event.attempt), [1, 2]);
    assert.ok(retries.every((event) => event.delayMs > 0 && event.delayMs <= 40));
  });

  it('does not wait past the deadline: a RetryInfo delay longer than the time left ends the call at once', async () => {
    gateway.script({ code: grpc.status.RESOURCE_EXHAUSTED, message: 'rate limit', details: [errorInfo('RATE_LIMITED'), retryInfo(60_000)] });
    const started = performance.now();
    const error = await failure(client.redeemVoucher(REQUEST, { deadlineMs: 2000 }));
    assert.ok(performance.now() - started < 1500);
    assert.equal(error.codeName, 'RESOURCE_EXHAUSTED');
    assert.equal(error.retryAfterMs, 60_000);
    assert.equal(error.attempts, 1);
    assert.equal(gateway.received.length, 1);
  });

  for (const [code, reason] of [
    [grpc.status.FAILED_PRECONDITION, 'VOUCHER_EXPIRED'],
    [grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    [grpc.status.RESOURCE_EXHAUSTED, 'NO_RETRY_INFO'],
  ] as const) {
    it(`never sends again after ${grpc.status[code]} ${reason}`, async () => {
      gateway.script({ code, message: 'no', details: [errorInfo(reason)] }, { response: REDEEMED });
      const error = await failure(client.redeemVoucher(REQUEST));
      assert.equal(error.code, code);
      assert.equal(gateway.received.length, 1);
    });
  }

  it('sends once with retry: false', async () => {
    gateway.script({ code: grpc.status.UNAVAILABLE, message: 'down', details: [retryInfo(10)] }, { response: REDEEMED });
    const error = await failure(client.redeemVoucher(REQUEST, { retry: false }));
    assert.equal(error.attempts, 1);
    assert.equal((await client.redeemVoucher(REQUEST)).attempts, 1);
  });

  it('stops waiting when the signal aborts, rejecting with its reason', async () => {
    gateway.script({ code: grpc.status.UNAVAILABLE, message: 'down', details: [retryInfo(3000)] }, { response: REDEEMED });
    const controller = new AbortController();
    const waiting = new Promise<void>((resolve) => {
      onRetry = () => resolve();
    });
    const call = client.redeemVoucher(REQUEST, { signal: controller.signal });
    await waiting; // the client is now waiting 3 s before the second attempt
    const aborted = performance.now();
    controller.abort(new Error('till closed the sale'));
    await assert.rejects(call, { message: 'till closed the sale' });
    assert.ok(performance.now() - aborted < 1000);
    assert.equal(gateway.received.length, 1);
  });

  it('refuses a request with a float amount before sending anything', async () => {
    const bad = { ...REQUEST, cart: { total: { amount: 2500.5, currency_code: 'EUR' } } };
    await assert.rejects(client.redeemVoucher(bad as unknown as typeof REQUEST), {
      name: 'TypeError',
      message: /RedeemVoucherRequest\.cart\.total\.amount: 2500\.5 is not an integer/,
    });
    assert.equal(gateway.received.length, 0);
  });
});
