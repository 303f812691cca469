// Money as the gateway takes it: an integer amount of minor units (cents for EUR) plus an ISO 4217 code,
// never a float. Text typed by a person ("25.00") becomes minor units exactly, with the currency's own
// number of decimals, the same way the Python CLI (`vouchery-gateway call --total 25.00`) reads it.
import type { Money } from './generated/messages';
import { int64String, type Int64Input } from './scalars';

// ISO 4217 codes with their minor-unit digits (as the gateway's money.py has them). Codes not listed are
// refused by the gateway too.
const EXPONENT_0 = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF';
const EXPONENT_3 = 'BHD IQD JOD KWD LYD OMR TND';
const EXPONENT_4 = 'CLF UYW';
const EXPONENT_2 = `AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
  CAD CDF CHE CHF CHW COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
  GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
  MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR
  RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD
  TZS UAH USD USN UZS VED VES WST XCD XCG YER ZAR ZMW ZWG`;

const EXPONENTS: ReadonlyMap<string, number> = new Map(
  ([[EXPONENT_0, 0], [EXPONENT_2, 2], [EXPONENT_3, 3], [EXPONENT_4, 4]] as const).flatMap(([codes, exponent]) =>
    codes.split(/\s+/).filter(Boolean).map((code) => [code, exponent] as const),
  ),
);

/** A Money as requests take it: the amount in minor units, exact. */
export interface MoneyValue {
  readonly amount: string;
  readonly currency_code: string;
}

/** Digits after the decimal point in `currency` (2 for EUR, 0 for JPY); a RangeError for an unknown code. */
export function currencyExponent(currency: string): number {
  const exponent = EXPONENTS.get(currency);
  if (exponent === undefined) throw new RangeError(`unknown ISO 4217 currency code ${JSON.stringify(currency.slice(0, 8))}`);
  return exponent;
}

/**
 * A Money of `amount` minor units of `currency`: `money(2500, 'EUR')` or `money('2500', 'EUR')` or
 * `money(2500n, 'EUR')` is 25.00 EUR. A non-integer or unsafe number is a TypeError, an unknown
 * currency a RangeError.
 */
export function money(amount: Int64Input, currency: string): MoneyValue {
  currencyExponent(currency);
  return { amount: int64String(amount, 'money amount'), currency_code: currency };
}

export interface ParseAmountOptions {
  /**
   * Refuse a whole number without the currency's decimals ("25" for EUR): say "25.00". For input
   * that was once read as minor units, where "4000" could mean 40.00 or 4000.00.
   */
  readonly requireDecimals?: boolean;
}

const AMOUNT = /^([0-9]+)(?:\.([0-9]+))?$/;

/**
 * Decimal text in the currency's unit ("25.00", "25.5", "1500" for JPY) as exact minor units
 * (2500n, 2550n, 1500n). Refused, with a RangeError or TypeError saying why: more decimals than the
 * currency has ("25.001" EUR: never rounded), a sign, an exponent, separators, an unknown currency.
 */
export function parseAmount(text: string, currency: string, options: ParseAmountOptions = {}): bigint {
  const exponent = currencyExponent(currency);
  const match = AMOUNT.exec(text);
  if (!match) {
    throw new TypeError(`${JSON.stringify(text)} is not an amount in ${currency}: write it like ${exponent ? `25.${'0'.repeat(exponent)}` : '1500'}`);
  }
  const [, whole, fraction = ''] = match;
  if (fraction.length > exponent) {
    throw new RangeError(`${JSON.stringify(text)} has more decimal places than ${currency} has (${exponent})`);
  }
  if (options.requireDecimals && exponent > 0 && match[2] === undefined) {
    const asMinor = formatAmount({ amount: BigInt(whole), currency_code: currency });
    throw new TypeError(
      `${JSON.stringify(text)} is ambiguous: write the amount in ${currency} with its ${exponent} decimals: ` +
        `${whole}.${'0'.repeat(exponent)} for ${whole} ${currency}, or ${asMinor} if ${whole} meant minor units`,
    );
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0'));
  int64String(minor, `amount ${JSON.stringify(text)}`);
  return minor;
}

/** Minor units as decimal text with the currency's places: formatAmount(money(2500, 'EUR')) is "25.00". */
export function formatAmount(value: Pick<Money, 'currency_code'> & { readonly amount: Int64Input }): string {
  const exponent = currencyExponent(value.currency_code);
  const minor = BigInt(int64String(value.amount, 'amount'));
  const digits = (minor < 0n ? -minor : minor).toString().padStart(exponent + 1, '0');
  const text = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return minor < 0n ? `-${text}` : text;
}
