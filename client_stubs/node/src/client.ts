// GatewayClient: every RPC of the gateway as a typed async method over one grpc-js channel, with the
// caller key, a deadline for the whole call, retries that keep the request (and so its transaction id)
// unchanged, and failures as GatewayError.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { attachCallInfo, type Answer, type CallOptions, type MethodInfo } from './call';
import { decodeMessage, encodeMessage } from './codec';
import { GatewayError, isReplay } from './errors';
import { GeneratedMethods } from './generated/methods';
import { messageType } from './protos';
import { retryDelayMs, retryPolicy, sleep, type RetryOptions } from './retry';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION = (require('../package.json') as { version: string }).version;

/** TLS towards the gateway; PEM contents, not file names. */
export interface TlsOptions {
  /** CA bundle that signed the gateway's certificate (default: the system's). */
  readonly rootCerts?: Buffer;
  /** Client certificate chain, for mutual TLS. */
  readonly certChain?: Buffer;
  /** Client private key, for mutual TLS. */
  readonly privateKey?: Buffer;
  /** The name to verify in the gateway's certificate, when it differs from the target's host. */
  readonly serverName?: string;
}

export interface GatewayClientOptions {
  /** The gateway, "host:port". */
  readonly target: string;
  /** The caller key, sent as "authorization: Bearer <key>" on every call. */
  readonly apiKey?: string;
  /** `true` for TLS with the system's CAs, or the certificates to use; default plaintext. */
  readonly tls?: boolean | TlsOptions;
  /** Channel credentials of your own (overrides `tls`). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Default time budget of a call, retries included, in ms (default 5000). */
  readonly deadlineMs?: number;
  /** Retry settings (see retry.ts); `false`: every call is sent once. */
  readonly retry?: RetryOptions | false;
  /** Default language of cashier texts (`accept-language`), e.g. "de". */
  readonly locale?: string;
  /** More grpc-js channel options. */
  readonly channelOptions?: grpc.ChannelOptions;
}

interface Outcome<R> {
  readonly response: R;
  readonly trailers: grpc.Metadata;
}

function credentialsOf(options: GatewayClientOptions): grpc.ChannelCredentials {
  if (options.credentials) return options.credentials;
  if (!options.tls) return grpc.credentials.createInsecure();
  const tls = options.tls === true ? {} : options.tls;
  return grpc.credentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null);
}

/**
 * The gateway's API: one async method per RPC of CheckoutService, LoyaltyService and CustomerService,
 * named after it (RedeemVoucher is `redeemVoucher`), taking the request message (field names as in the
 * protos) and resolving to the response message plus `replay`, `requestId` and `attempts`.
 *
 *   const client = new GatewayClient({ target: '127.0.0.1:50051', apiKey: process.env.KEY });
 *   const cart = simpleCart('2500', 'EUR');                       // 25.00 EUR
 *   const { redemption } = await client.redeemVoucher({ transaction_id: 'T-1', voucher_code: 'SAVE10', cart });
 *   await client.confirmRedemption({ transaction_id: 'T-1' });
 *   client.close();
 */
export class GatewayClient extends GeneratedMethods {
  readonly target: string;
  readonly #client: grpc.Client;
  readonly #apiKey: string | undefined;
  readonly #deadlineMs: number;
  readonly #retry: RetryOptions | false | undefined;
  readonly #locale: string | undefined;
  readonly #types = new Map<string, protobuf.Type>();

  constructor(options: GatewayClientOptions) {
    super();
    if (!options || typeof options.target !== 'string' || options.target === '') {
      throw new TypeError('GatewayClient needs { target: "host:port" }');
    }
    this.target = options.target;
    this.#apiKey = options.apiKey || undefined;
    this.#deadlineMs = options.deadlineMs ?? 5000;
    this.#retry = options.retry;
    this.#locale = options.locale;
    retryPolicy(options.retry); // refuse bad settings now rather than on the first call
    const tls = typeof options.tls === 'object' ? options.tls : undefined;
    this.#client = new grpc.Client(options.target, credentialsOf(options), {
      'grpc.primary_user_agent': `vouchery-gateway-client-node/${VERSION}`,
      'grpc.keepalive_time_ms': 30_000,
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {}),
      ...options.channelOptions,
    });
  }

  /** Closes the channel; calls after this fail. */
  close(): void {
    this.#client.close();
  }

  /** Resolves when the channel is connected, or rejects at `deadline`. */
  waitForReady(deadline: Date | number = Date.now() + this.#deadlineMs): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.waitForReady(deadline, (error) => (error ? reject(error) : resolve()));
    });
  }

  #type(name: string): protobuf.Type {
    let type = this.#types.get(name);
    if (type === undefined) {
      type = messageType(name);
      this.#types.set(name, type);
    }
    return type;
  }

  #metadata(requestId: string, options: CallOptions | undefined): grpc.Metadata {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(options?.metadata ?? {})) metadata.set(key, value);
    metadata.set('x-request-id', requestId);
    if (this.#apiKey) metadata.set('authorization', `Bearer ${this.#apiKey}`);
    const locale = options?.locale ?? this.#locale;
    if (locale) metadata.set('accept-language', locale);
    return metadata;
  }

  protected async unary<R>(method: MethodInfo, request: object, options: CallOptions | undefined): Promise<Answer<R>> {
    // Checked and encoded once, before anything is sent: every retry sends these same bytes.
    const bytes = encodeMessage(this.#type(method.requestType), request);
    const responseType = this.#type(method.responseType);
    const policy = retryPolicy(this.#retry, options?.retry);
    const requestId = options?.requestId || randomUUID();
    const deadline =
      options?.deadline !== undefined
        ? new Date(options.deadline).getTime()
        : Date.now() + (options?.deadlineMs ?? this.#deadlineMs);
    const signal = options?.signal;
    for (let attempt = 1; ; attempt += 1) {
      if (signal?.aborted) throw signal.reason;
      try {
        const outcome = await this.#attempt<R>(method, bytes, responseType, this.#metadata(requestId, options), deadline, signal);
        return attachCallInfo(outcome.response as R & object, {
          replay: isReplay(outcome.trailers),
          requestId,
          attempts: attempt,
        }) as Answer<R>;
      } catch (caught) {
        if (signal?.aborted) throw signal.reason;
        if (!isServiceError(caught)) throw caught;
        const error = GatewayError.fromServiceError(caught, { requestId, attempts: attempt }, method.name);
        const delayMs = retryDelayMs(error, attempt, policy);
        if (delayMs === undefined || Date.now() + delayMs >= deadline) throw error;
        policy.onRetry?.({ method: method.name, attempt, delayMs, error });
        await sleep(delayMs, signal);
      }
    }
  }

  #attempt<R>(
    method: MethodInfo,
    bytes: Buffer,
    responseType: protobuf.Type,
    metadata: grpc.Metadata,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<Outcome<R>> {
    return new Promise((resolve, reject) => {
      let result: { error: grpc.ServiceError | null; response?: R } | undefined;
      const call = this.#client.makeUnaryRequest<Buffer, R>(
        method.path,
        (request) => request,
        (answer) => decodeMessage<R>(responseType, answer),
        bytes,
        metadata,
        { deadline },
        (error, response) => {
          result = { error, response };
        },
      );
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      // grpc-js calls the callback, then emits the status with the trailers (x-idempotent-replay).
      call.on('status', (status: grpc.StatusObject) => {
        signal?.removeEventListener('abort', onAbort);
        if (result?.error) reject(result.error);
        else if (result && result.response !== undefined) resolve({ response: result.response, trailers: status.metadata });
        else reject(Object.assign(new Error(status.details), { code: status.code, details: status.details, metadata: status.metadata }));
      });
    });
  }
}

function isServiceError(value: unknown): value is grpc.ServiceError {
  return value instanceof Error && typeof (value as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in value;
}
