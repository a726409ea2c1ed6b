import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { baseUrl, connectTrusted, Unreachable, type HealthTarget } from './tls.js';

/** Bounds for one request; defaults live in `requestDefaults`. */
export interface RequestOptions {
  signal?: AbortSignal;
  /** Connect + TLS + response, all together. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** A JSON body, sent with POST (Synapse reads Storm calls from the body). */
  body?: unknown;
  /** Largest body accepted (default 1 MiB); a Storm answer with packages' code may be larger. */
  maxBodyBytes?: number;
}

const requestDefaults = { timeoutMs: 5000, maxBodyBytes: 1024 * 1024 } as const;

export interface JsonResponse {
  status: number;
  /** The parsed body; `undefined` when the body is not JSON. */
  json: unknown;
  /** Start of the raw body, for messages (never headers: they may carry credentials). */
  excerpt: string;
}

/**
 * GET `path` (POST with `body`) from the cell's HTTPS API over a connection whose certificate was judged first (see
 * connectTrusted). Network trouble → `Unreachable`; untrusted certificate → refused SynupError; caller's abort → its reason.
 */
export async function requestJson(target: HealthTarget, path: string, options: RequestOptions = {}): Promise<JsonResponse> {
  const timeoutMs = options.timeoutMs ?? requestDefaults.timeoutMs;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const url = baseUrl(target) + path;
  const maxBodyBytes = options.maxBodyBytes ?? requestDefaults.maxBodyBytes;
  let socket: TLSSocket | undefined;
  try {
    socket = await connectTrusted(target, signal);
    const connection = socket;
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    return await new Promise<JsonResponse>((resolve, reject) => {
      const request = https.request(
        {
          host: target.host,
          port: target.port,
          path,
          method: payload ? 'POST' : 'GET',
          headers: {
            accept: 'application/json',
            connection: 'close',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...options.headers,
          },
          createConnection: () => connection,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBodyBytes) {
              request.destroy(new Unreachable(`${url}: response larger than ${maxBodyBytes} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          response.on('error', (error) => reject(new Unreachable(`${url}: ${error.message}`)));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: response.statusCode ?? 0, json, excerpt: text.slice(0, 200) });
          });
        },
      );
      const onAbort = () => request.destroy(new Unreachable(`${url}: no answer within ${timeoutMs} ms`));
      signal.addEventListener('abort', onAbort, { once: true });
      request.on('close', () => signal.removeEventListener('abort', onAbort));
      request.on('error', (error: NodeJS.ErrnoException) => reject(error instanceof Unreachable ? error : new Unreachable(`${url}: ${error.code ?? error.message}`)));
      request.end(payload);
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw error;
  } finally {
    socket?.destroy();
  }
}
