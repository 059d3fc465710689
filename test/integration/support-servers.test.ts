// Self-test of the real-server helpers every integration test builds on.
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';

describe('test support servers', () => {
  const started: Array<RedisServer | PostgresServer> = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('redis: SET/GET on a fresh server', async () => {
    const redis = await startRedis();
    started.push(redis);
    expect(redis.port).toBeLessThanOrEqual(55535);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.set('k', 'v');
      expect(await client.get('k')).toBe('v');
    } finally {
      client.disconnect();
    }
  });

  it('redis: appendonly data survives restart() on the same port and dir', async () => {
    const redis = await startRedis({ appendonly: true });
    started.push(redis);
    const { port, dir } = redis;
    let client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    await client.set('survivor', 'yes');
    client.disconnect();

    await redis.restart();
    expect(redis.port).toBe(port);
    expect(redis.dir).toBe(dir);

    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      expect(await client.get('survivor')).toBe('yes');
    } finally {
      client.disconnect();
    }
  });

  it('redis: without appendonly, restart() starts empty', async () => {
    const redis = await startRedis();
    started.push(redis);
    let client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    await client.set('gone', '1');
    client.disconnect();
    await redis.restart();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      expect(await client.get('gone')).toBeNull();
    } finally {
      client.disconnect();
    }
  });

  it('postgres: SELECT 1 in a fresh database as the iam role', async () => {
    const postgres = await startPostgres();
    started.push(postgres);
    expect(postgres.adminUrl).toBe(`postgresql://postgres:secret@127.0.0.1:${postgres.port}/postgres`);

    const url = await postgres.createDatabase();
    expect(url).toMatch(new RegExp(`^postgresql://iam:secret@127\\.0\\.0\\.1:${postgres.port}/iam_test_[0-9a-f]+$`));
    const other = await postgres.createDatabase();
    expect(other).not.toBe(url);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number; who: string; db: string }>(
        'SELECT 1 AS one, current_user AS who, current_database() AS db',
      );
      expect(rows[0]).toEqual({ one: 1, who: 'iam', db: url.split('/').pop() });
      // the app role owns its database: it can create tables in it
      await client.query('CREATE TABLE t (id int primary key)');
    } finally {
      await client.end();
    }

    // password auth is enforced over TCP
    const wrong = new pg.Client({ connectionString: url.replace('iam:secret', 'iam:wrong') });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
  });
});
