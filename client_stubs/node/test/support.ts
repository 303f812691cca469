// What the unit tests share: a fake gateway (a grpc-js server speaking the API's protos) that answers
// each call with the next step of a script, and google.rpc statuses built with the vendored protos.
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { encodeMessage, METHODS, messageType, type MethodInfo } from '../dist';

export interface Detail {
  readonly type: string; // e.g. "google.rpc.RetryInfo"
  readonly value: Record<string, unknown>;
}

/** A google.rpc.Status as the `grpc-status-details-bin` trailer carries it. */
export function statusBytes(code: number, message: string, details: readonly Detail[]): Buffer {
  const status = messageType('google.rpc.Status');
  return Buffer.from(
    status
      .encode(
        status.fromObject({
          code,
          message,
          details: details.map(({ type, value }) => ({
            type_url: `type.googleapis.com/${type}`,
            value: encodeMessage(messageType(type), value),
          })),
        }),
      )
      .finish(),
  );
}

export function retryInfo(ms: number): Detail {
  return {
    type: 'google.rpc.RetryInfo',
    value: { retry_delay: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 } },
  };
}

export function errorInfo(reason: string, metadata: Record<string, string> = {}): Detail {
  return { type: 'google.rpc.ErrorInfo', value: { reason, domain: 'vouchery', metadata } };
}

/** What a scripted step answers: an error status (with details), or a response (with trailers). */
export type Step =
  | {
      readonly code: number;
      readonly message?: string;
      readonly details?: readonly Detail[];
      readonly trailers?: Record<string, string>;
    }
  | { readonly response: Record<string, unknown>; readonly trailers?: Record<string, string> };

export interface Received {
  readonly bytes: Buffer;
  readonly metadata: grpc.Metadata;
  readonly at: number; // performance.now()
}

export interface FakeGateway {
  readonly target: string;
  readonly received: Received[];
  /** Queue the answers of the next calls, in order. */
  script(...steps: Step[]): void;
  /** Forget what was received and any answers not given. */
  reset(): void;
  close(): Promise<void>;
}

/** A grpc-js server on a free port answering `method` from a script; resolves once it listens. */
export async function fakeGateway(method: MethodInfo = METHODS.validateVoucher): Promise<FakeGateway> {
  const responseType = messageType(method.responseType);
  const received: Received[] = [];
  const steps: Step[] = [];
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    [method.name]: {
      path: method.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (bytes: Buffer) => bytes, // the raw bytes: a retry must send the same ones
      responseSerialize: (value: Record<string, unknown>) => encodeMessage(responseType, value),
      responseDeserialize: (bytes: Buffer) => bytes,
    },
  };
  server.addService(definition, {
    [method.name]: (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      received.push({ bytes: call.request, metadata: call.metadata, at: performance.now() });
      const step = steps.shift() ?? { code: grpc.status.INTERNAL, message: 'the test script ran out' };
      if ('response' in step) {
        const trailers = new grpc.Metadata();
        for (const [key, value] of Object.entries(step.trailers ?? {})) trailers.set(key, value);
        callback(null, step.response, trailers);
      } else {
        const metadata = new grpc.Metadata();
        const message = step.message ?? 'scripted failure';
        if (step.details) metadata.set('grpc-status-details-bin', statusBytes(step.code, message, step.details));
        for (const [key, value] of Object.entries(step.trailers ?? {})) metadata.set(key, value);
        callback({ code: step.code, details: message, metadata });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return {
    target: `127.0.0.1:${port}`,
    received,
    script: (...more: Step[]) => steps.push(...more),
    reset: () => {
      received.length = 0;
      steps.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
