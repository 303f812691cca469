// What every call takes besides its request, and what every answer carries besides its message.
import type { RetryOptions } from './retry';

/** An RPC as the generated methods name it (src/generated/methods.ts). */
export interface MethodInfo {
  /** Full service name, e.g. "vouchery.gateway.v1.CheckoutService". */
  readonly service: string;
  /** The RPC's name, e.g. "RedeemVoucher". */
  readonly name: string;
  /** The gRPC path, "/<service>/<name>". */
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
}

/** Per-call options; each overrides the client's setting for this call only. */
export interface CallOptions {
  /**
   * The whole call's time budget in milliseconds, retries and their waits included (default: the
   * client's `deadlineMs`). Ignored when `deadline` is given.
   */
  readonly deadlineMs?: number;
  /** An absolute deadline for the whole call, retries included. */
  readonly deadline?: Date | number;
  /**
   * The `x-request-id` sent with every attempt of this call (default: a new UUID), to find the call in
   * the gateway's access log; it is on the answer and on a GatewayError as `requestId`.
   */
  readonly requestId?: string;
  /** The language of cashier texts for this call (`accept-language`), e.g. "de". */
  readonly locale?: string;
  /** More metadata (ASCII values), e.g. { "x-vouchery-shopper": "..." }. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Cancels the call (and any wait before a retry); the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Retry settings for this call, merged over the client's; `false` sends it once. */
  readonly retry?: RetryOptions | false;
}

/** What the client adds to every answer (and to every GatewayError). Not enumerable: JSON.stringify of
 * an answer prints only the message. */
export interface CallInfo {
  /**
   * True when the gateway answered with the stored answer of an earlier attempt of the same write (the
   * `x-idempotent-replay: true` trailer): the write happened once, before; this is its answer again.
   */
  readonly replay: boolean;
  /** The call's `x-request-id`. */
  readonly requestId: string;
  /** How many attempts the call took (1 without a retry). */
  readonly attempts: number;
}

/** A response message plus `replay`, `requestId` and `attempts` (non-enumerable properties). */
export type Answer<T> = T & CallInfo;

/** Puts the call's facts on `target` as non-enumerable, read-only properties. */
export function attachCallInfo<T extends object>(target: T, info: CallInfo): T & CallInfo {
  for (const [key, value] of Object.entries(info)) {
    Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: true });
  }
  return target as T & CallInfo;
}
