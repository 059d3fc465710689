// A throwaway Redis Sentinel set for integration tests, on loopback: one master and one replica
// (redis-servers from startRedis()), and `sentinels` sentinel processes (redis-server --sentinel,
// each with its own sentinel.conf in a temp dir, killed with this process) monitoring the master
// as `name`. Resolves once every sentinel sees the master and the replica, linked and healthy, so
// a failover can start at once.
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { exited, freePort, sleep, spawnWithParentDeath, trackTempDir, untrack, untrackTempDir } from './processes.ts';
import { startRedis, type RedisServer } from './redis-server.ts';

export interface RedisSentinelSet {
  /** the master name the sentinels monitor */
  name: string;
  /** the sentinels' host:port, for REDIS_SENTINELS */
  sentinels: Array<{ host: string; port: number }>;
  /** the two data nodes; which one is master changes with a failover */
  servers: RedisServer[];
  /** Where the sentinels say the master is now. */
  masterPort(): Promise<number>;
  /**
   * SENTINEL FAILOVER: the replica is promoted, the old master becomes its replica. Resolves with
   * the new master's port once every sentinel names it and it accepts writes (bounded wait).
   */
  failover(): Promise<number>;
  /** Stop every sentinel and data node and remove their temp dirs. */
  stop(): Promise<void>;
}

export interface StartRedisSentinelOptions {
  /** number of sentinels; default 2 (quorum 1, so a single one can also act) */
  sentinels?: number;
  /** master name; default mymaster */
  name?: string;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;

export async function startRedisSentinel(opts: StartRedisSentinelOptions = {}): Promise<RedisSentinelSet> {
  const name = opts.name ?? 'mymaster';
  const count = opts.sentinels ?? 2;
  const servers: RedisServer[] = [];
  const sentinels: Array<{ port: number; child: ChildProcess; dir: string }> = [];
  const stop = async () => {
    await Promise.all(sentinels.map(async (s) => {
      const gone = exited(s.child);
      s.child.kill('SIGTERM');
      const timer = setTimeout(() => s.child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
      untrack(s.child);
      rmSync(s.dir, { recursive: true, force: true });
      untrackTempDir(s.dir);
    }));
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const master = await startRedis();
    servers.push(master);
    servers.push(await startRedis({ args: ['--replicaof', HOST, String(master.port)] }));
    for (let i = 0; i < count; i++) sentinels.push(await launchSentinel(name, master.port));
    const set: RedisSentinelSet = {
      name,
      sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })),
      servers,
      masterPort: () => withClient(sentinels[0]!.port, async (c) => Number(((await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1])),
      async failover() {
        const before = await set.masterPort();
        await waitUntil('a healthy replica for the failover', () => healthy(sentinels.map((s) => s.port), name));
        // Let the replica catch up first: a Sentinel failover does not wait for it, and what the
        // test wrote just before must survive (as it does in production once replication caught up).
        const replica = servers.find((s) => s.port !== before)!;
        await waitUntil('the replica to catch up with the master', async () => {
          const offset = (info: string, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
          const m = offset(await withClient(before, (c) => c.info('replication')), 'master_repl_offset');
          const r = offset(await withClient(replica.port, (c) => c.info('replication')), 'slave_repl_offset');
          return m >= 0 && r >= m;
        });
        await withClient(sentinels[0]!.port, (c) => c.call('SENTINEL', 'FAILOVER', name));
        let after = before;
        await waitUntil('the sentinels to name the new master', async () => {
          const ports = await Promise.all(sentinels.map((s) => withClient(s.port, async (c) => Number(((await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]))));
          after = ports[0]!;
          if (!ports.every((p) => p === after) || after === before) return false;
          return withClient(after, async (c) => (await c.info('replication')).includes('role:master'));
        });
        return after;
      },
      stop,
    };
    await waitUntil('the sentinels to see master and replica', () => healthy(sentinels.map((s) => s.port), name));
    return set;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Every sentinel sees the master up and one replica linked to it. */
async function healthy(sentinelPorts: number[], name: string): Promise<boolean> {
  const views = await Promise.all(sentinelPorts.map((port) => withClient(port, async (c) => {
    const master = toRecord((await c.call('SENTINEL', 'MASTER', name)) as string[]);
    const replicas = ((await c.call('SENTINEL', 'REPLICAS', name)) as string[][]).map(toRecord);
    return master.flags === 'master' && replicas.some((r) => r.flags === 'slave' && r['master-link-status'] === 'ok');
  })));
  return views.every(Boolean);
}

function toRecord(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

async function withClient<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

async function launchSentinel(name: string, masterPort: number): Promise<{ port: number; child: ChildProcess; dir: string }> {
  const binary = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!binary) throw new Error('redis-server not found on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'iam-sentinel-'));
  trackTempDir(dir);
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file (known replicas, epochs): it must be writable, one per sentinel.
  writeFileSync(conf, [
    `port ${port}`,
    `bind ${HOST}`,
    'protected-mode no',
    `dir ${dir}`,
    'logfile ""',
    'loglevel warning',
    `sentinel monitor ${name} ${HOST} ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} 2000`,
    `sentinel failover-timeout ${name} 10000`,
    `sentinel parallel-syncs ${name} 1`,
    '',
  ].join('\n'));
  const child = spawnWithParentDeath(binary, [conf, '--sentinel'], { cwd: dir });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis sentinel exited during startup (code ${child.exitCode}) on port ${port}:\n${output}`);
    const up = await withClient(port, (c) => c.ping()).then(() => true, () => false);
    if (up) return { port, child, dir };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis sentinel on port ${port} did not answer within 15 s:\n${output}`);
    }
    await sleep(50);
  }
}
