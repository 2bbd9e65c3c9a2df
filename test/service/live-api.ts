/**
 * A live API process (src/server.ts, as the quickstart runs it) for attack
 * tests over real sockets: a crash is a process exit, not a caught exception
 * in the test runner. Plus a raw HTTP/1.1 client that sends bytes exactly as
 * given (truncated bodies, lying headers, slow bodies).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './harness.js';

const root = join(import.meta.dirname, '..', '..');

export interface LiveApi {
  process: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  alive: () => boolean;
  /** resident memory of the API process in MiB */
  rssMiB: () => number;
  stop: () => Promise<void>;
}

export async function startLiveApi(env: NodeJS.ProcessEnv): Promise<LiveApi> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'server.ts')], {
    cwd: root,
    env: { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const port = await waitFor(
    'the API process to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`the API exited: ${output.slice(-2000)}`);
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      return m ? Number(m[1]) : null;
    },
    60_000,
  );
  return {
    process: child,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    alive: () => child.exitCode === null && child.signalCode === null,
    rssMiB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    stop: async () => {
      child.kill('SIGTERM');
      await waitFor('the API process to exit', async () => child.exitCode !== null || child.signalCode !== null, 15_000).catch(() =>
        child.kill('SIGKILL'),
      );
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: any;
  /** bytes of the request body written before the answer came (or the socket closed) */
  sent: number;
}

/**
 * Send `head` (request line and headers, without the blank line) and then the
 * body chunks one by one, stopping early if the server answers or closes.
 * `gapMs` waits between chunks; `from` picks the client's loopback address.
 */
export function rawRequest(
  port: number,
  head: string,
  chunks: Array<Buffer | string> = [],
  options: { gapMs?: number; timeoutMs?: number; from?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // `from`: another loopback address (127.0.0.x), so per-address limits of one test do not touch the others
    const socket = connect({ port, host: '127.0.0.1', localAddress: options.from });
    let received = Buffer.alloc(0);
    let sent = 0;
    let answered = false;
    const timer = setTimeout(() => finish(new Error(`no answer within ${options.timeoutMs ?? 30_000} ms`)), options.timeoutMs ?? 30_000);
    const finish = (err?: Error) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      socket.destroy();
      if (err && !received.length) return reject(err);
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = text.slice(0, end < 0 ? text.length : end).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const body = end < 0 ? '' : received.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, json, sent });
    };
    const isHead = head.startsWith('HEAD ');
    const complete = () => {
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const headers = text.slice(0, end);
      // no body to wait for: a HEAD answer, an event stream (it never ends), a 1xx/204/304
      if (isHead || /\r\ncontent-type:\s*text\/event-stream/i.test(headers) || /^HTTP\/1\.1 (1\d\d|204|304) /.test(headers)) return true;
      if (/\r\ntransfer-encoding:\s*chunked/i.test(headers)) return text.endsWith('0\r\n\r\n');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
      return length ? received.length - (end + 4) >= Number(length[1]) : false;
    };
    socket.on('data', (d) => {
      received = Buffer.concat([received, d]);
      if (complete()) finish();
    });
    const started = Date.now();
    // (what the socket had done when it failed: for a failure that shows up once in many runs)
    const state = () => `${sent} body bytes sent, ${received.length} answer bytes received, after ${Date.now() - started} ms`;
    socket.on('close', () => finish(new Error(`closed without an answer (${state()})`)));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(new Error(`socket error before an answer: ${err.code ?? err.message} (${state()})`)),
    );
    const send = async () => {
      socket.write(`${head}\r\n\r\n`);
      for (const chunk of chunks) {
        // a client stops sending once an answer starts to arrive (as curl does): the server has closed
        // its side by then, and more bytes would only earn a reset that can discard the unread answer
        if (answered || socket.destroyed || received.length) break;
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (answered || socket.destroyed || received.length) break;
        const ok = socket.write(chunk);
        sent += Buffer.byteLength(chunk);
        if (!ok) await new Promise((r) => socket.once('drain', r).once('close', r));
      }
    };
    socket.on('connect', () => void send().catch((err: Error) => finish(err)));
  });
}
