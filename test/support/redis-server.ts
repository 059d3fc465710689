// A real redis-server for integration tests: one process per call, bound to 127.0.0.1 on a free
// port, data in a temp dir. No mocks: the adapter rules (atomic consume, TTLs, hash tags) are only
// worth testing against the real thing.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, freePort, sleep, spawnWithParentDeath, trackTempDir, untrack, untrackTempDir } from './processes.ts';

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** working dir (RDB/AOF files live here) */
  dir: string;
  /** SHUTDOWN NOSAVE (SIGKILL if it does not go), wait for exit, remove a temp dir we created. */
  stop(): Promise<void>;
  /** Stop, then start again on the same port and dir (data survives when appendonly: true). */
  restart(): Promise<void>;
  /** Stop, keeping port and dir, until up(): for tests of what the server does while Redis is away. */
  down(): Promise<void>;
  /** Start again after down(), on the same port and dir. */
  up(): Promise<void>;
  /** The redis-server process id (e.g. to SIGSTOP it: a hung Redis that keeps its port). */
  pid(): number | undefined;
}

export interface StartRedisOptions {
  /** fixed port; default: a free port chosen by the OS (<= 55535, so the cluster bus port +10000 fits) */
  port?: number;
  /** data dir; default: a fresh mkdtemp dir, removed by stop() */
  dir?: string;
  /** AOF with fsync on every write, so restart() keeps every acknowledged write */
  appendonly?: boolean;
  /** more redis-server arguments, after ours (e.g. `--cluster-enabled yes`); kept by restart() */
  args?: string[];
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = findRedisServer();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'iam-redis-'));
  const appendonly = opts.appendonly ?? false;
  const extraArgs = opts.args ?? [];
  if (ownDir) trackTempDir(dir);

  let port = opts.port ?? (await freePort());
  let child: ChildProcess;
  // A port picked by the OS can be taken by someone else before redis binds it: retry with a new one.
  for (let attempt = 1; ; attempt++) {
    try {
      child = await launch(binary, port, dir, appendonly, extraArgs);
      break;
    } catch (err) {
      if (opts.port !== undefined || attempt >= 5 || !isAddressInUse(err)) throw err;
      port = await freePort();
    }
  }

  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await shutdown(child, port);
      if (ownDir) {
        rmSync(dir, { recursive: true, force: true });
        untrackTempDir(dir);
      }
    },
    async restart() {
      await shutdown(child, port);
      mkdirSync(dir, { recursive: true });
      child = await launch(binary, port, dir, appendonly, extraArgs);
    },
    async down() {
      await shutdown(child, port);
    },
    async up() {
      mkdirSync(dir, { recursive: true });
      child = await launch(binary, port, dir, appendonly, extraArgs);
    },
    pid() {
      return child.pid;
    },
  };
  return server;
}

function findRedisServer(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new Error('redis-server not found on PATH (Debian: apt-get install redis-server; scripts/iam.sh test does it)');
  }
  return path;
}

async function launch(binary: string, port: number, dir: string, appendonly: boolean, extraArgs: string[]): Promise<ChildProcess> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--logfile', '',
    '--loglevel', 'warning',
    ...(appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no', '--save', '']),
    ...extraArgs,
  ];
  const child = spawnWithParentDeath(binary, args, { cwd: dir });

  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => (exit = { code, signal }));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => undefined);

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exit) {
      throw new Error(`redis-server exited during startup (code ${exit.code}, signal ${exit.signal}) on port ${port}:\n${output}`);
    }
    const reply = await Promise.race([sendCommand(port, 'PING').catch(() => ''), spawnError]);
    if (reply.startsWith('+PONG')) return child;
    // "-LOADING" while the AOF is replayed, or connection refused before listen(): try again
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${output}`);
}

async function shutdown(child: ChildProcess, port: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  // SHUTDOWN closes the connection without a reply when it succeeds.
  await sendCommand(port, 'SHUTDOWN NOSAVE').catch(() => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await gone;
  clearTimeout(timer);
  untrack(child);
}

/** Send one inline command and resolve with the first reply line (or '' if the server closed). */
function sendCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    const done = (fn: () => void) => {
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new Error(`timeout waiting for reply to ${command}`))), timeoutMs);
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (b: Buffer) => {
      data += b.toString();
      if (data.includes('\r\n')) done(() => resolve(data));
    });
    socket.once('error', (err) => done(() => reject(err)));
    socket.once('close', () => done(() => resolve(data)));
  });
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}
