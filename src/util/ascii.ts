/**
 * Byte classification tables of RFC 9110 §5.6.2 (token), §5.5 (field-vchar) and RFC 3986, as 256-entry
 * lookup tables so that hot loops do one array load per byte.
 */

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_EXTRA = "!#$%&'*+-.^_`|~";

/** RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export const TCHAR: Uint8Array = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    TCHAR_EXTRA.includes(String.fromCharCode(c)),
);

/** RFC 9110 §5.5: field-value octets: VCHAR, obs-text (0x80-0xFF), SP and HTAB. No other CTL, no DEL. */
export const FIELD_VALUE_CHAR: Uint8Array = table((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f));

/** Octets allowed in a request-target: RFC 3986 unreserved / reserved / "%" (visible ASCII except a few), no CTL,
 * no SP. We accept any VCHAR (0x21-0x7E) as most servers do, except "#": no form of request-target carries a
 * fragment (RFC 9112 §3.2). obs-text (>= 0x80) is rejected. */
export const TARGET_CHAR: Uint8Array = table((c) => c > 0x20 && c < 0x7f && c !== 0x23);

const URI_EXTRA = "-._~:/?[]@!$&'()*+,;=%";

/**
 * Octets a request-target may hold by RFC 9112 §3.2 (its forms are built from RFC 3986 rules): unreserved (ALPHA,
 * DIGIT, "-._~"), gen-delims and sub-delims (RFC 3986 §2.2), and "%" for pct-encoded, without "#" (no form of
 * request-target carries a fragment). Not in it, though VCHAR: `"` `<` `>` `\` `^` backtick `{` `|` `}`.
 */
export const URI_CHAR: Uint8Array = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    URI_EXTRA.includes(String.fromCharCode(c)),
);

/** Whether `s` is a non-empty token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Whether `s` is a valid field-value (RFC 9110 §5.5): no CR, LF, NUL or other CTL except HTAB, no chars > 0xFF. */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || FIELD_VALUE_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * `s` without leading and trailing OWS (RFC 9110 §5.6.3: `OWS = *( SP / HTAB )`). Not `String.prototype.trim`,
 * which also strips U+00A0 (obs-text 0xA0 in a latin1-decoded field) and other Unicode spaces: `chunked\xa0` is
 * not the chunked coding, and a server that read it as one could be made to disagree with a proxy about where a
 * request ends.
 */
export function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
