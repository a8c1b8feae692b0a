/**
 * The format an MQTT 5 publish's content type names, held to the HTTP input's rule: a type the product does
 * not read (image/png, text/x-own) is refused as UNSUPPORTED_FORMAT naming the types it takes, as HTTP answers
 * 415 and CoAP 4.15, rather than ignored and the bytes guessed at (a PNG that happens to hold JSON would be
 * stored). Parameters and case are read as HTTP reads them; a charset other than UTF-8 is refused the same way.
 */
import { formatFromMediaType, mediaTypeOf, type Format } from '../codec';
import { UnsupportedFormatError } from '../errors';
import { checkCharset, INGEST_TYPES } from '../inputs/request';

/**
 * Says "these are bytes" and nothing of their format (no MQTT client sets it unasked, but gateways that label
 * every binary payload do): the input's format, or the bytes, decide, as with no content type at all.
 */
const UNLABELLED = 'application/octet-stream';

/**
 * undefined when the publish names no format (no content type, or octet-stream); throws UnsupportedFormatError
 * (with the device, so its dead letter is listed under it) for a type no decoder reads.
 */
export function publishFormat(contentType: string | undefined, device: string | undefined): Format | undefined {
  if (!contentType) return undefined;
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === UNLABELLED) return undefined;
  const format = formatFromMediaType(mediaType);
  if (!format) throw new UnsupportedFormatError(`content type ${mediaType.slice(0, 60)} is not supported; use one of ${INGEST_TYPES.join(', ')} (or no content type, for the input's format)`, detailsOf(contentType, device));
  try {
    checkCharset(contentType, format);
  } catch (err) {
    throw err instanceof UnsupportedFormatError ? new UnsupportedFormatError(err.message, { ...err.details, ...detailsOf(contentType, device) }) : err;
  }
  return format;
}

/** Built only for a refusal: the accepted publishes of the hot path allocate nothing here. */
function detailsOf(contentType: string, device: string | undefined): Record<string, unknown> {
  return device !== undefined ? { contentType: contentType.slice(0, 100), device } : { contentType: contentType.slice(0, 100) };
}
