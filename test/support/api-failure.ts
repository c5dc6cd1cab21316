import { ApiException } from '@kubernetes/client-node';

/** What a failed client-node call carried: HTTP code, the Status body (parsed), its text and headers. */
export interface ApiFailure {
  code: number;
  body: Record<string, unknown>;
  text: string;
  headers: Record<string, string>;
}

/** The failure of a client-node call that must fail with an ApiException; anything else fails the test. */
export async function failure(call: Promise<unknown>): Promise<ApiFailure> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const text = String(error.body);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // plain-text bodies (429) stay in `text`
    }
    return { code: error.code, body, text, headers: error.headers };
  }
  throw new Error('expected the call to fail');
}
