// Which failed calls the client sends again, and when.
//
// Every RPC of the gateway is safe to send twice: reads and validations change nothing, and every write
// is keyed on the POS transaction id (or the loyalty request id), so a repeat gets the first answer
// (marked `replay`) and never redeems twice. The client therefore resends the same request bytes (same
// transaction id, same x-request-id) when the gateway says it could not decide now:
//   - UNAVAILABLE: after RetryInfo's delay when the status carries one, else after a jittered backoff;
//   - RESOURCE_EXHAUSTED and ABORTED (a duplicate of the write still in flight, or a rate limit) only
//     with RetryInfo, after its delay;
// and only while the attempt fits in the call's deadline and `maxAttempts` allows. Nothing else is sent
// again: FAILED_PRECONDITION and INVALID_ARGUMENT would be refused again, and DEADLINE_EXCEEDED means the
// caller's budget is spent.
import * as grpc from '@grpc/grpc-js';
import type { GatewayError } from './errors';

export interface RetryEvent {
  /** The RPC, e.g. "RedeemVoucher". */
  readonly method: string;
  /** The attempt that failed (1 for the first). */
  readonly attempt: number;
  /** How long the client waits before the next attempt. */
  readonly delayMs: number;
  readonly error: GatewayError;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 3; 1 turns retries off). */
  readonly maxAttempts?: number;
  /** Backoff before the first retry without RetryInfo, in ms (default 100), doubled per attempt. */
  readonly initialBackoffMs?: number;
  /** Longest backoff without RetryInfo, in ms (default 2000). */
  readonly maxBackoffMs?: number;
  /** Called before each wait, e.g. to log it. */
  readonly onRetry?: (event: RetryEvent) => void;
}

export const DEFAULT_RETRY = Object.freeze({ maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 2000 });

export type RetryPolicy = Required<Omit<RetryOptions, 'onRetry'>> & Pick<RetryOptions, 'onRetry'>;

/** The client's policy with a call's options over it; `false` anywhere means one attempt. */
export function retryPolicy(...layers: (RetryOptions | false | undefined)[]): RetryPolicy {
  let policy: RetryPolicy = { ...DEFAULT_RETRY };
  for (const layer of layers) {
    if (layer === false) policy = { ...policy, maxAttempts: 1 };
    else if (layer !== undefined) policy = { ...policy, ...Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined)) };
  }
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`retry.maxAttempts must be a whole number from 1, got ${policy.maxAttempts}`);
  }
  return policy;
}

/** Whether the client sends the request again after `error` (time and attempts permitting). */
export function isRetried(error: Pick<GatewayError, 'code' | 'retryAfterMs'>): boolean {
  if (error.code === grpc.status.UNAVAILABLE) return true;
  const waitable = error.code === grpc.status.RESOURCE_EXHAUSTED || error.code === grpc.status.ABORTED;
  return waitable && error.retryAfterMs !== undefined;
}

/**
 * How long to wait before attempt `attempt + 1` after `error`, or undefined when it is not to be sent
 * again: RetryInfo's delay when given, else a backoff of initialBackoffMs * 2^(attempt-1), capped at
 * maxBackoffMs, with jitter (half fixed, half random).
 */
export function retryDelayMs(
  error: Pick<GatewayError, 'code' | 'retryAfterMs'>,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= policy.maxAttempts || !isRetried(error)) return undefined;
  if (error.retryAfterMs !== undefined) return Math.max(0, error.retryAfterMs);
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  return base / 2 + random() * (base / 2);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
