// A throwaway Redis Cluster for integration tests: `masters` redis-servers from startRedis() (so
// 127.0.0.1, free ports <= MAX_PORT because the cluster bus listens on port + 10000, a temp dir
// each, killed with this process), cluster mode on, the 16384 slots split evenly, no replicas.
// Resolves once every node reports cluster_state:ok and knows every other node.
import { Redis } from 'ioredis';
import { sleep } from './processes.ts';
import { startRedis, type RedisServer } from './redis-server.ts';

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisCluster {
  /** the masters; node i serves the i-th of `masters` equal slot ranges */
  nodes: RedisClusterNode[];
  /** Stop every node (SHUTDOWN NOSAVE, SIGKILL if it does not go) and remove its temp dir. */
  stop(): Promise<void>;
}

export interface StartRedisClusterOptions {
  /** number of masters; default 3 */
  masters?: number;
}

const HOST = '127.0.0.1';
const SLOTS = 16384;
const READY_TIMEOUT_MS = 30_000;

export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 1) throw new Error(`masters must be a positive integer, not ${masters}`);

  // In parallel: startRedis retries on a new port when its port (or here its bus port, which
  // another node may have taken) is already in use.
  const started = await Promise.allSettled(
    Array.from({ length: masters }, () => startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] })),
  );
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.all(servers.map((s: RedisServer) => s.stop()));
  };
  try {
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const nodes = servers.map((s) => ({ host: HOST, port: s.port }));
    await formCluster(nodes);
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What `redis-cli --cluster create` does, without its prompts and its unbounded waits. */
async function formCluster(nodes: RedisClusterNode[]): Promise<void> {
  const clients = nodes.map(({ host, port }) => {
    const client = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => undefined); // surfaced by the command that fails
    return client;
  });
  try {
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(
      clients.map(async (c, i) => {
        const first = Math.floor((i * SLOTS) / clients.length);
        const end = Math.floor(((i + 1) * SLOTS) / clients.length);
        await c.cluster('ADDSLOTS', ...Array.from({ length: end - first }, (_, k) => first + k));
        // distinct epochs up front, so no epoch collision has to be resolved by gossip
        await c.cluster('SET-CONFIG-EPOCH', i + 1);
      }),
    );
    // one node meets all the others; gossip tells everyone else
    for (const { host, port } of nodes.slice(1)) await clients[0]!.cluster('MEET', host, port);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const infos = await Promise.all(clients.map((c) => c.cluster('INFO')));
      const ready = infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${nodes.length}\r\n`));
      if (ready) return;
      if (Date.now() > deadline) {
        const states = infos.map((info, i) => `${nodes[i]!.port}: ${info.split('\r\n').filter((l) => /^cluster_(state|slots_assigned|known_nodes)/.test(l)).join(' ')}`);
        throw new Error(`redis cluster not ready within ${READY_TIMEOUT_MS} ms:\n${states.join('\n')}`);
      }
      await sleep(25);
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}
