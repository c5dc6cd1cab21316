import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { StatusError } from './status.js';

/** The API server's request body limit (3 MiB, like kube-apiserver's `MaxRequestBodyBytes`). */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON request body that must be an object; 400 BadRequest otherwise. */
export function parseJsonObject<T extends object>(body: string): T {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new StatusError(
      400,
      'BadRequest',
      `the body of the request could not be decoded: ${(error as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StatusError(400, 'BadRequest', 'the body of the request must be a JSON object');
  }
  return value as T;
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  code: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): void {
  res.writeHead(code, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** A metav1.Status failure response. */
export function sendStatus(res: ServerResponse, error: StatusError): void {
  sendJson(res, error.code, error.toBody());
}

/** A non-negative integer query parameter; 400 BadRequest in the API server's words otherwise. */
export function nonNegativeInteger(field: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new StatusError(
      400,
      'BadRequest',
      `${field}: Invalid value: "${text}": must be a non-negative integer`,
    );
  }
  return value;
}
