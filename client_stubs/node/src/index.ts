// @vouchery/gateway-client: a typed Node.js client of the vouchery-pos-gateway (README.md).
export { GatewayClient, type GatewayClientOptions, type TlsOptions } from './client';
export { type Answer, type CallInfo, type CallOptions, type MethodInfo } from './call';
export {
  ERROR_DOMAIN,
  GatewayError,
  REPLAY_TRAILER,
  isReplay,
  statusDetails,
  toErrorInfoReason,
  toRejectionReason,
  type FieldViolation,
} from './errors';
export { DEFAULT_RETRY, isRetried, retryDelayMs, type RetryEvent, type RetryOptions } from './retry';
export { currencyExponent, formatAmount, money, parseAmount, type MoneyValue, type ParseAmountOptions } from './money';
export { cartLine, cartWithLines, returnedLine, simpleCart, type CartLineOptions } from './requests';
export { INT64_MAX, INT64_MIN, UINT64_MAX, type Int64Input } from './scalars';
export { checkMessage, decodeMessage, encodeMessage, DECODE_OPTIONS } from './codec';
export { PROTO_DIR, protoRoot, messageType } from './protos';
export { METHODS, PROTO_FILES, SERVICES } from './generated/methods';
export * from './generated/messages';

/** A Timestamp of an answer as a Date (null stays null: "not happened / not known"). */
export function timestampToDate(timestamp: { readonly seconds: string; readonly nanos: number } | null | undefined): Date | null {
  if (!timestamp) return null;
  return new Date(Number(BigInt(timestamp.seconds) * 1000n) + Math.floor(timestamp.nanos / 1e6));
}
