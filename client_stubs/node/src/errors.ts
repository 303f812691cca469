// GatewayError: a failed call with the google.rpc details of its status decoded into plain fields.
//
//   try {
//     await client.redeemVoucher({ ... });
//   } catch (error) {
//     if (!(error instanceof GatewayError)) throw error;
//     if (error.rejection) showCashier(error.rejection.message);          // FAILED_PRECONDITION, typed reason
//     else if (error.fieldViolations.length) fix(error.fieldViolations);  // INVALID_ARGUMENT
//     else if (error.retryable) tryAgainLater(error.retryAfterMs);        // the client's retries ran out
//   }
import * as grpc from '@grpc/grpc-js';
import { attachCallInfo, type CallInfo } from './call';
import { decodeMessage } from './codec';
import { RejectionReason, type Rejection } from './generated/messages';
import { messageType } from './protos';

/** The ErrorInfo domain of the gateway's own errors. */
export const ERROR_DOMAIN = 'vouchery';
/** The trailer that marks a stored answer sent again. */
export const REPLAY_TRAILER = 'x-idempotent-replay';
const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
const TYPE_URL_PREFIX = 'type.googleapis.com/';
const REJECTION_PREFIX = 'REJECTION_REASON_';

/** A bad field of an INVALID_ARGUMENT (google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  /** Path of the field in the request, e.g. "cart.lines[2].quantity". */
  readonly field: string;
  readonly description: string;
  readonly reason: string;
}

/**
 * The RejectionReason enum value for an ErrorInfo reason: "VOUCHER_EXPIRED" gives
 * "REJECTION_REASON_VOUCHER_EXPIRED". Undefined for reasons that are not rejections
 * ("IDEMPOTENCY_KEY_REUSED", "RATE_LIMITED", ...).
 */
export function toRejectionReason(errorInfoReason: string): RejectionReason | undefined {
  const name = `${REJECTION_PREFIX}${errorInfoReason}`;
  if (errorInfoReason === 'UNSPECIFIED' || !Object.prototype.hasOwnProperty.call(RejectionReason, name)) return undefined;
  return name as RejectionReason;
}

/**
 * The ErrorInfo reason for a RejectionReason (its name or number): "REJECTION_REASON_VOUCHER_EXPIRED"
 * (or 1) gives "VOUCHER_EXPIRED". Undefined for UNSPECIFIED and unknown values.
 */
export function toErrorInfoReason(reason: RejectionReason | number): string | undefined {
  const name =
    typeof reason === 'number'
      ? (Object.keys(RejectionReason) as RejectionReason[]).find((key) => RejectionReason[key] === reason)
      : Object.prototype.hasOwnProperty.call(RejectionReason, reason)
        ? reason
        : undefined;
  if (name === undefined || name === 'REJECTION_REASON_UNSPECIFIED') return undefined;
  return name.slice(REJECTION_PREFIX.length);
}

interface AnyDetail {
  type_url: string;
  value: Uint8Array;
}

interface StatusDetails {
  code: number;
  message: string;
  details: AnyDetail[];
}

/** The google.rpc.Status of the `grpc-status-details-bin` trailer, or undefined when there is none. */
export function statusDetails(trailers: grpc.Metadata | undefined): StatusDetails | undefined {
  const [bin] = trailers?.get(STATUS_DETAILS_TRAILER) ?? [];
  if (!(bin instanceof Uint8Array)) return undefined;
  return messageType('google.rpc.Status').toObject(messageType('google.rpc.Status').decode(bin), {
    defaults: true,
    arrays: true,
  }) as StatusDetails;
}

/** Whether the answer was a replay (trailer `x-idempotent-replay: true`). */
export function isReplay(trailers: grpc.Metadata | undefined): boolean {
  return (trailers?.get(REPLAY_TRAILER) ?? []).some((value) => String(value).toLowerCase() === 'true');
}

function codeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

function durationMs(duration: { seconds?: string; nanos?: number } | null | undefined): number | undefined {
  if (!duration) return undefined;
  return Number(BigInt(duration.seconds ?? '0') * 1000n) + Math.round((duration.nanos ?? 0) / 1e6);
}

/** A gateway call that ended in a status other than OK. */
export class GatewayError extends Error implements CallInfo {
  override readonly name = 'GatewayError';
  /** The gRPC status code (grpc.status.FAILED_PRECONDITION, ...). */
  readonly code: grpc.status;
  /** Its name, e.g. "FAILED_PRECONDITION". */
  readonly codeName: string;
  /** The status message, as the gateway sent it (English). */
  readonly details: string;
  /** ErrorInfo.reason, e.g. "VOUCHER_EXPIRED", "RATE_LIMITED"; "" when the status has no ErrorInfo. */
  readonly reason: string = '';
  /** ErrorInfo.domain: "vouchery" for the gateway's errors. */
  readonly domain: string = '';
  /** ErrorInfo.metadata, e.g. { vouchery_code: "1001" }. */
  readonly metadata: Readonly<Record<string, string>> = {};
  /** ErrorInfo.metadata.vouchery_code: Vouchery's own code for the refusal, "" when none. */
  readonly voucheryCode: string = '';
  /** LocalizedMessage.message: the cashier text, in the language asked for; "" when none. */
  readonly localizedMessage: string = '';
  /** LocalizedMessage.locale, e.g. "de". */
  readonly locale: string = '';
  /** RetryInfo.retry_delay in milliseconds: when the same request may be sent again; undefined when none. */
  readonly retryAfterMs: number | undefined;
  /** BadRequest.field_violations: every bad field of an INVALID_ARGUMENT. */
  readonly fieldViolations: readonly FieldViolation[] = [];
  /**
   * The typed refusal of a write (FAILED_PRECONDITION whose ErrorInfo reason is a RejectionReason), in
   * the shape of the `Rejection` a validation answers with: `reason` is the enum value
   * ("REJECTION_REASON_VOUCHER_EXPIRED"), `message` the cashier text (localized when the gateway sent
   * one). Undefined for other failures, e.g. IDEMPOTENCY_KEY_REUSED.
   */
  readonly rejection: Rejection | undefined;
  /** The trailers of the failed attempt. */
  readonly trailers: grpc.Metadata;
  declare readonly replay: boolean;
  declare readonly requestId: string;
  declare readonly attempts: number;

  constructor(status: { code: number; details: string; metadata?: grpc.Metadata }, info: CallInfo, method = '') {
    super();
    this.code = status.code;
    this.codeName = codeName(status.code);
    this.details = status.details;
    this.trailers = status.metadata ?? new grpc.Metadata();
    let decoded: StatusDetails | undefined;
    try {
      decoded = statusDetails(this.trailers);
    } catch {
      decoded = undefined; // undecodable details: keep the code and message
    }
    if (decoded !== undefined && decoded.code === status.code) {
      for (const detail of decoded.details) this.#take(detail);
    }
    if (this.code === grpc.status.FAILED_PRECONDITION && this.domain === ERROR_DOMAIN) {
      const reason = toRejectionReason(this.reason);
      if (reason !== undefined) {
        this.rejection = Object.freeze({
          reason,
          vouchery_code: this.voucheryCode,
          message: this.localizedMessage || this.details,
        });
      }
    }
    this.message = `${method ? `${method}: ` : ''}${this.codeName}: ${this.reason || '-'}: ${this.localizedMessage || this.details}`;
    attachCallInfo(this, info);
  }

  #take(detail: AnyDetail): void {
    const typeName = detail.type_url.startsWith(TYPE_URL_PREFIX) ? detail.type_url.slice(TYPE_URL_PREFIX.length) : '';
    const self = this as { -readonly [K in keyof GatewayError]: GatewayError[K] };
    switch (typeName) {
      case 'google.rpc.ErrorInfo': {
        const info = decodeMessage<{ reason: string; domain: string; metadata: Record<string, string> }>(
          messageType(typeName),
          detail.value,
        );
        self.reason = info.reason;
        self.domain = info.domain;
        self.metadata = Object.freeze({ ...info.metadata });
        self.voucheryCode = info.metadata.vouchery_code ?? '';
        break;
      }
      case 'google.rpc.LocalizedMessage': {
        const localized = decodeMessage<{ locale: string; message: string }>(messageType(typeName), detail.value);
        self.localizedMessage = localized.message;
        self.locale = localized.locale;
        break;
      }
      case 'google.rpc.RetryInfo': {
        const retry = decodeMessage<{ retry_delay: { seconds: string; nanos: number } | null }>(
          messageType(typeName),
          detail.value,
        );
        self.retryAfterMs = durationMs(retry.retry_delay);
        break;
      }
      case 'google.rpc.BadRequest': {
        const bad = decodeMessage<{ field_violations: { field: string; description: string; reason?: string }[] }>(
          messageType(typeName),
          detail.value,
        );
        self.fieldViolations = Object.freeze(
          bad.field_violations.map((v) => Object.freeze({ field: v.field, description: v.description, reason: v.reason ?? '' })),
        );
        break;
      }
      default:
        break; // details this client does not know stay in `trailers`
    }
  }

  /**
   * Whether the same request may be sent again later (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED,
   * DEADLINE_EXCEEDED): every write is idempotent on its transaction or request id.
   */
  get retryable(): boolean {
    return [
      grpc.status.UNAVAILABLE,
      grpc.status.RESOURCE_EXHAUSTED,
      grpc.status.ABORTED,
      grpc.status.DEADLINE_EXCEEDED,
    ].includes(this.code);
  }

  /** The error for a failed grpc-js call. */
  static fromServiceError(error: grpc.ServiceError, info: Omit<CallInfo, 'replay'>, method = ''): GatewayError {
    return new GatewayError(error, { ...info, replay: isReplay(error.metadata) }, method);
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.codeName,
      details: this.details,
      reason: this.reason,
      domain: this.domain,
      metadata: this.metadata,
      localized_message: this.localizedMessage,
      locale: this.locale,
      retry_after_ms: this.retryAfterMs,
      field_violations: this.fieldViolations,
      rejection: this.rejection,
      request_id: this.requestId,
      replay: this.replay,
      attempts: this.attempts,
    };
  }
}
