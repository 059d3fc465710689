// A throwaway PostgreSQL cluster for integration tests: initdb into a temp dir, postgres in the
// foreground on 127.0.0.1 and a free port, durability off (fsync, synchronous_commit) for speed.
// Password auth over TCP, like production: the superuser `postgres` for administration, and the
// application role `iam` (LOGIN CREATEDB) that owns every database createDatabase() hands out.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { exited, freePort, sleep, spawnWithParentDeath, trackTempDir, untrack, untrackTempDir } from './processes.ts';

export interface PostgresServer extends PostgresDatabases {
  port: number;
  /** superuser URL: postgresql://postgres:secret@127.0.0.1:PORT/postgres */
  adminUrl: string;
  /** Fast shutdown (SIGINT, SIGKILL after 10 s), then remove the cluster directory. */
  stop(): Promise<void>;
  /** Fast shutdown keeping the cluster, until up(): for tests of what the server does while PostgreSQL is away. */
  down(): Promise<void>;
  /** Start again after down(), on the same port and data. */
  up(): Promise<void>;
}

/** Databases on a running server (this process's or one another process started), by its superuser URL. */
export interface PostgresDatabases {
  /** Create a uniquely named (or the given) database owned by `iam`, empty or a copy of `template`;
   *  returns postgresql://iam:secret@127.0.0.1:PORT/<name>. */
  createDatabase(name?: string, opts?: { template?: string }): Promise<string>;
  /** Drops the database a createDatabase URL names, closing its connections. */
  dropDatabase(url: string): Promise<void>;
}

export const POSTGRES_PASSWORD = 'secret';

export function databasesOn(adminUrl: string): PostgresDatabases {
  const port = new URL(adminUrl).port;
  const checked = (name: string) => {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name: ${name}`);
    return name;
  };
  return {
    async createDatabase(name, opts = {}) {
      const db = checked(name ?? `iam_test_${randomBytes(6).toString('hex')}`);
      const create = `CREATE DATABASE "${db}" OWNER ${APP_ROLE}${opts.template ? ` TEMPLATE "${checked(opts.template)}"` : ''}`;
      // A template's last client may still be leaving (its backend exits after the pool ends).
      for (let attempt = 1; ; attempt++) {
        try {
          await withClient(adminUrl, (c) => c.query(create));
          break;
        } catch (err) {
          if (attempt >= 50 || !/is being accessed by other users/.test(String(err))) throw err;
          await sleep(100);
        }
      }
      return `postgresql://${APP_ROLE}:${POSTGRES_PASSWORD}@127.0.0.1:${port}/${db}`;
    },
    async dropDatabase(url) {
      await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${checked(decodeURIComponent(new URL(url).pathname.slice(1)))}" WITH (FORCE)`));
    },
  };
}
export const APP_ROLE = 'iam';

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export async function startPostgres(): Promise<PostgresServer> {
  const bin = findPostgresBin();
  const runAs = postgresUser();
  const base = mkdtempSync(join(tmpdir(), 'iam-pg-'));
  trackTempDir(base);
  const dataDir = join(base, 'data');
  const socketDir = join(base, 'sock');
  mkdirSync(socketDir);
  const pwFile = join(base, 'pwfile');
  writeFileSync(pwFile, `${POSTGRES_PASSWORD}\n`);
  if (runAs) {
    for (const p of [base, socketDir, pwFile]) chownSync(p, runAs.uid, runAs.gid);
  }
  chmodSync(base, 0o700);

  try {
    // --no-sync and the C locale keep initdb around a second.
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
        '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { cwd: base, encoding: 'utf8', ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    if (init.status !== 0) {
      throw new Error(`initdb failed (status ${init.status}${init.error ? `, ${init.error.message}` : ''}):\n${init.stdout}\n${init.stderr}`);
    }

    let port = await freePort();
    let child: ChildProcess;
    for (let attempt = 1; ; attempt++) {
      try {
        child = await launch(bin, runAs, base, dataDir, socketDir, port);
        break;
      } catch (err) {
        if (attempt >= 5 || !(err instanceof Error) || !/address already in use/i.test(err.message)) throw err;
        port = await freePort();
      }
    }

    const adminUrl = `postgresql://postgres:${POSTGRES_PASSWORD}@127.0.0.1:${port}/postgres`;
    await withClient(adminUrl, (c) => c.query(`CREATE ROLE ${APP_ROLE} LOGIN CREATEDB PASSWORD '${POSTGRES_PASSWORD}'`));

    return {
      port,
      adminUrl,
      ...databasesOn(adminUrl),
      async stop() {
        await shutdown(child);
        rmSync(base, { recursive: true, force: true });
        untrackTempDir(base);
      },
      async down() {
        await shutdown(child);
      },
      async up() {
        child = await launch(bin, runAs, base, dataDir, socketDir, port);
      },
    };
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    untrackTempDir(base);
    throw err;
  }
}

/** The newest /usr/lib/postgresql/<major>/bin (Debian), or PG_BIN, or pg_config --bindir. */
function findPostgresBin(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const majors = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return join(root, majors[0], 'bin');
  }
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = cfg.status === 0 ? cfg.stdout.trim() : '';
  if (dir && existsSync(join(dir, 'initdb'))) return dir;
  throw new Error('PostgreSQL server binaries not found (Debian: apt-get install postgresql; scripts/iam.sh test does it)');
}

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    return r.status === 0 ? Number(r.stdout.trim()) : NaN;
  };
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error('running as root but there is no `postgres` user to run PostgreSQL as (apt-get install postgresql creates it)');
  }
  return { uid, gid };
}

async function launch(
  bin: string,
  runAs: { uid: number; gid: number } | undefined,
  cwd: string,
  dataDir: string,
  socketDir: string,
  port: number,
): Promise<ChildProcess> {
  const args = [
    '-D', dataDir, '-p', String(port), '-k', socketDir,
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'max_connections=400', '-c', 'shared_buffers=32MB',
    '-c', 'logging_collector=off', '-c', 'log_min_messages=warning',
  ];
  // postgres runs in the foreground as our direct child (setpriv execs, no intermediate process),
  // so signals reach the postmaster itself. With runAs, node switches uid/gid (and drops the
  // supplementary groups) before it execs setpriv, and setpriv sets the parent-death signal after
  // that, so the uid change cannot clear it.
  const child = spawnWithParentDeath(join(bin, 'postgres'), args, {
    cwd,
    env: { ...process.env, LC_ALL: 'C' },
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  quitOnExit(child);

  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => (exit = { code, signal }));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));

  const url = `postgresql://postgres:${POSTGRES_PASSWORD}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw spawnError;
    if (exit) {
      throw new Error(`postgres exited during startup (code ${exit.code}, signal ${exit.signal}) on port ${port}:\n${output}`);
    }
    try {
      await withClient(url, (c) => c.query('SELECT 1'));
      return child;
    } catch {
      // refused before listen(), or "the database system is starting up": try again
      await sleep(50);
    }
  }
  child.kill('SIGKILL');
  throw new Error(`postgres on port ${port} did not accept connections within ${START_TIMEOUT_MS} ms:\n${output}`);
}

async function shutdown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill('SIGINT'); // "fast" shutdown: disconnect clients, no waiting
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await gone;
  clearTimeout(timer);
  untrack(child);
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined); // a server shutting down must not crash the test process
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

// --- exit hygiene ------------------------------------------------------------------------------
// processes.ts SIGKILLs tracked children and then removes tracked temp dirs when this process
// exits. A SIGKILLed postmaster leaves its backends running (and writing into the data dir) for a
// moment, so before that happens, this listener (prepended, so it runs first) sends SIGQUIT =
// immediate shutdown: the postmaster stops its backends, then exits. Wait for that (synchronously,
// bounded: exit handlers cannot await) so nothing writes while the temp dir is deleted.

const postmasters = new Set<ChildProcess>();
let quitHooked = false;
function quitOnExit(child: ChildProcess): void {
  postmasters.add(child);
  child.once('exit', () => postmasters.delete(child));
  if (quitHooked) return;
  quitHooked = true;
  process.prependOnceListener('exit', () => {
    for (const c of postmasters) c.kill('SIGQUIT');
    const deadline = Date.now() + 3000;
    for (const c of postmasters) {
      while (c.pid !== undefined && isRunning(c.pid) && Date.now() < deadline) sleepSync(20);
    }
  });
}

/** A process is running unless it is gone or a zombie (we do not reap during exit). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
