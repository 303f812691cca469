// Builders of the request parts most calls need, amounts in minor units (like the Python client's
// simple_cart, cart_line, cart_with_lines and returned_line).
import type { CartInput, CartLineInput, ReturnedLineInput } from './generated/messages';
import { money } from './money';
import { INT64_MAX, int64String, type Int64Input } from './scalars';

export interface CartLineOptions {
  /** Defaults to the SKU. */
  readonly productId?: string;
  readonly name?: string;
  /** [name, tag] pairs for campaign rules, e.g. [["brand", "nike"]]. */
  readonly categories?: ReadonlyArray<readonly [string, string]>;
}

/** A cart of `total` minor units of `currency`; lines and shipping (minor units) are optional. */
export function simpleCart(
  total: Int64Input,
  currency = 'EUR',
  options: { readonly lines?: readonly CartLineInput[]; readonly shipping?: Int64Input } = {},
): CartInput {
  return {
    total: money(total, currency),
    lines: options.lines ?? [],
    ...(options.shipping === undefined ? {} : { shipping: money(options.shipping, currency) }),
  };
}

/** A line of `quantity` units at `unitPrice` minor units each. */
export function cartLine(
  sku: string,
  quantity: Int64Input,
  unitPrice: Int64Input,
  currency = 'EUR',
  options: CartLineOptions = {},
): CartLineInput {
  return {
    sku,
    product_id: options.productId ?? sku,
    name: options.name ?? '',
    quantity: int64String(quantity, `cart line ${sku} quantity`),
    unit_price: money(unitPrice, currency),
    categories: (options.categories ?? []).map(([name, tag]) => ({ name, tag })),
  };
}

/**
 * A cart whose total is the exact sum (in BigInt) of its lines' quantity x unit price, in the lines'
 * currency; the gateway refuses baskets whose lines do not add up. At least one line, one currency.
 */
export function cartWithLines(lines: readonly CartLineInput[], options: { readonly shipping?: Int64Input } = {}): CartInput {
  const currencies = new Set(lines.map((line) => line.unit_price.currency_code));
  if (currencies.size !== 1) {
    throw new RangeError(`a cart needs at least one line, all in one currency (got ${[...currencies].sort().join(', ') || 'none'})`);
  }
  const [currency] = currencies as Set<string>;
  const total = lines.reduce(
    (sum, line, index) =>
      sum +
      BigInt(int64String(line.quantity ?? 0, `lines[${index}].quantity`)) *
        BigInt(int64String(line.unit_price.amount ?? 0, `lines[${index}].unit_price.amount`)),
    0n,
  );
  if (total > INT64_MAX) throw new RangeError('the lines add up to more than an amount can hold');
  return simpleCart(total, currency, { lines, ...options });
}

/** `quantity` units of the sale's line `lineIndex` (its position in the sale's cart lines). */
export function returnedLine(lineIndex: number, quantity: Int64Input): ReturnedLineInput {
  return { line_index: lineIndex, quantity: int64String(quantity, 'returned line quantity') };
}
