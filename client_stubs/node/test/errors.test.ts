// GatewayError decodes a real grpc-status-details-bin (built with the vendored google/rpc protos), and
// the ErrorInfo reason maps to the RejectionReason enum and back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  GatewayClient,
  GatewayError,
  RejectionReason,
  simpleCart,
  toErrorInfoReason,
  toRejectionReason,
} from '../dist';
import { errorInfo, fakeGateway, retryInfo, statusBytes, type Detail, type FakeGateway } from './support';

const INFO = { requestId: 'req-1', attempts: 1, replay: false };

function errorWith(code: number, message: string, details: readonly Detail[], extra: Record<string, string> = {}): GatewayError {
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', statusBytes(code, message, details));
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
  return new GatewayError({ code, details: message, metadata }, INFO, 'RedeemVoucher');
}

describe('GatewayError', () => {
  it('carries ErrorInfo, LocalizedMessage and the typed rejection of a refused write', () => {
    const error = errorWith(grpc.status.FAILED_PRECONDITION, 'Voucher is expired', [
      errorInfo('VOUCHER_EXPIRED', { vouchery_code: '1001' }),
      { type: 'google.rpc.LocalizedMessage', value: { locale: 'de', message: 'Dieser Gutschein ist abgelaufen.' } },
    ]);
    assert.ok(error instanceof Error);
    assert.equal(error.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(error.codeName, 'FAILED_PRECONDITION');
    assert.equal(error.details, 'Voucher is expired');
    assert.equal(error.reason, 'VOUCHER_EXPIRED');
    assert.equal(error.domain, 'vouchery');
    assert.equal(error.voucheryCode, '1001');
    assert.deepEqual(error.metadata, { vouchery_code: '1001' });
    assert.equal(error.localizedMessage, 'Dieser Gutschein ist abgelaufen.');
    assert.equal(error.locale, 'de');
    assert.deepEqual(error.rejection, {
      reason: 'REJECTION_REASON_VOUCHER_EXPIRED',
      vouchery_code: '1001',
      message: 'Dieser Gutschein ist abgelaufen.',
    });
    assert.equal(error.retryAfterMs, undefined);
    assert.equal(error.retryable, false);
    assert.equal(error.requestId, 'req-1');
    assert.equal(error.message, 'RedeemVoucher: FAILED_PRECONDITION: VOUCHER_EXPIRED: Dieser Gutschein ist abgelaufen.');
  });

  it('carries RetryInfo as retryAfterMs and BadRequest as fieldViolations', () => {
    const limited = errorWith(grpc.status.RESOURCE_EXHAUSTED, 'slow down', [errorInfo('RATE_LIMITED'), retryInfo(1500)]);
    assert.equal(limited.retryAfterMs, 1500);
    assert.equal(limited.retryable, true);
    assert.equal(limited.rejection, undefined);
    const bad = errorWith(grpc.status.INVALID_ARGUMENT, 'invalid request', [
      errorInfo('INVALID_ARGUMENT'),
      {
        type: 'google.rpc.BadRequest',
        value: {
          field_violations: [
            { field: 'transaction_id', description: 'is required' },
            { field: 'cart.lines[2].quantity', description: 'must be at least 1', reason: 'RANGE' },
          ],
        },
      },
    ]);
    assert.deepEqual(bad.fieldViolations, [
      { field: 'transaction_id', description: 'is required', reason: '' },
      { field: 'cart.lines[2].quantity', description: 'must be at least 1', reason: 'RANGE' },
    ]);
  });

  it('has no rejection for a precondition that is not a business refusal', () => {
    const reused = errorWith(grpc.status.FAILED_PRECONDITION, 'key reused', [errorInfo('IDEMPOTENCY_KEY_REUSED')]);
    assert.equal(reused.reason, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(reused.rejection, undefined);
  });

  it('keeps the code and message when the details are missing, broken or for another status', () => {
    const bare = new GatewayError({ code: grpc.status.UNAVAILABLE, details: 'connection refused' }, INFO);
    assert.equal(bare.reason, '');
    assert.equal(bare.retryAfterMs, undefined);
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from([0xff, 0xff, 0xff]));
    const broken = new GatewayError({ code: grpc.status.INTERNAL, details: 'oops', metadata }, INFO);
    assert.equal(broken.codeName, 'INTERNAL');
    const other = errorWith(grpc.status.UNAVAILABLE, 'x', [errorInfo('VOUCHER_EXPIRED')]);
    const mismatched = new GatewayError({ code: grpc.status.NOT_FOUND, details: 'x', metadata: other.trailers }, INFO);
    assert.equal(mismatched.reason, '');
  });

  it('prints as JSON with every decoded field', () => {
    const error = errorWith(grpc.status.ABORTED, 'in progress', [errorInfo('IDEMPOTENT_REQUEST_IN_PROGRESS'), retryInfo(250)]);
    assert.deepEqual(JSON.parse(JSON.stringify(error)), {
      code: 'ABORTED',
      details: 'in progress',
      reason: 'IDEMPOTENT_REQUEST_IN_PROGRESS',
      domain: 'vouchery',
      metadata: {},
      localized_message: '',
      locale: '',
      retry_after_ms: 250,
      field_violations: [],
      request_id: 'req-1',
      replay: false,
      attempts: 1,
    });
  });
});

describe('ErrorInfo reason <-> RejectionReason', () => {
  it('maps every enum value to its ErrorInfo reason and back', () => {
    const names = Object.keys(RejectionReason) as RejectionReason[];
    assert.ok(names.length > 30);
    for (const name of names.filter((n) => n !== 'REJECTION_REASON_UNSPECIFIED')) {
      const reason = toErrorInfoReason(name);
      assert.equal(reason, name.replace(/^REJECTION_REASON_/, ''));
      assert.equal(toRejectionReason(reason ?? ''), name);
      assert.equal(toErrorInfoReason(RejectionReason[name]), reason);
    }
  });

  it('maps reasons that are not rejections, and UNSPECIFIED, to undefined', () => {
    assert.equal(toRejectionReason('VOUCHER_EXPIRED'), 'REJECTION_REASON_VOUCHER_EXPIRED');
    assert.equal(toRejectionReason('RATE_LIMITED'), undefined);
    assert.equal(toRejectionReason('UNSPECIFIED'), undefined);
    assert.equal(toRejectionReason('REJECTION_REASON_VOUCHER_EXPIRED'), undefined);
    assert.equal(toErrorInfoReason('REJECTION_REASON_UNSPECIFIED'), undefined);
    assert.equal(toErrorInfoReason(0), undefined);
    assert.equal(toErrorInfoReason(999), undefined);
  });
});

describe('errors over the wire', () => {
  let gateway: FakeGateway;
  let client: GatewayClient;
  before(async () => {
    gateway = await fakeGateway();
    client = new GatewayClient({ target: gateway.target, apiKey: 'vgk_test', locale: 'fr', retry: false });
  });
  after(async () => {
    client.close();
    await gateway.close();
  });

  it('a status with details from a server becomes a GatewayError with them, marked replay by the trailer', async () => {
    gateway.script({
      code: grpc.status.FAILED_PRECONDITION,
      message: 'Voucher is expired',
      details: [errorInfo('VOUCHER_EXPIRED', { vouchery_code: '1001' }), { type: 'google.rpc.LocalizedMessage', value: { locale: 'fr', message: 'Ce bon a expiré.' } }],
      trailers: { 'x-idempotent-replay': 'true' },
    });
    const error = await client
      .validateVoucher({ voucher_code: 'EXPIRED-1', cart: simpleCart('2500') }, { requestId: 'till-7' })
      .then(() => assert.fail('expected a GatewayError'), (caught: unknown) => caught as GatewayError);
    assert.ok(error instanceof GatewayError);
    assert.equal(error.rejection?.reason, 'REJECTION_REASON_VOUCHER_EXPIRED');
    assert.equal(error.localizedMessage, 'Ce bon a expiré.');
    assert.equal(error.requestId, 'till-7');
    assert.equal(error.replay, true);
    const sent = gateway.received.at(-1)?.metadata;
    assert.deepEqual(sent?.get('authorization'), ['Bearer vgk_test']);
    assert.deepEqual(sent?.get('accept-language'), ['fr']);
    assert.deepEqual(sent?.get('x-request-id'), ['till-7']);
  });
});
