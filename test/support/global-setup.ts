// Once per run of the integration project, before any test file: one PostgreSQL for every file
// (initdb and a start cost about 1.5 s each time), and a database with every migration applied on
// it and in an embedded folder. Instances copy those (test/support/iam.ts) rather than migrating
// their own: Prisma's migrate costs 3 s on PostgreSQL and 7 s on PGlite, and the suites create
// several hundred instances. Tests of the first migration itself ask for `freshDatabase`.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { startPostgres, type PostgresDatabases } from './postgres-server.ts'
import { openMigratedDatabase } from '../../src/queries/migrations.ts'

export interface TestDatabases {
  /** superuser URL of the run's PostgreSQL */
  postgresAdminUrl: string
  /** a database on it with every migration, to copy (CREATE DATABASE … TEMPLATE) */
  postgresTemplate: string
  /** a DATA_DIR whose embedded database has every migration, to copy */
  embeddedTemplateDir: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabases: TestDatabases
  }
}

/** Creates the database to copy on `postgres` and migrates it; returns its name. */
export async function createPostgresTemplate(postgres: PostgresDatabases): Promise<string> {
  const name = 'iam_migrated_template'
  await (await openMigratedDatabase({ databaseUrl: await postgres.createDatabase(name), dataDir: '' })).close()
  return name
}

/** A new DATA_DIR holding only a migrated embedded database. */
export async function createEmbeddedTemplate(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'iam-template-'))
  await (await openMigratedDatabase({ dataDir: dir })).close()
  return dir
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgres = await startPostgres()
  let embeddedTemplateDir = ''
  try {
    const postgresTemplate = await createPostgresTemplate(postgres)
    embeddedTemplateDir = await createEmbeddedTemplate()
    project.provide('testDatabases', { postgresAdminUrl: postgres.adminUrl, postgresTemplate, embeddedTemplateDir })
  } catch (err) {
    await postgres.stop()
    throw err
  }
  return async () => {
    await postgres.stop()
    rmSync(embeddedTemplateDir, { recursive: true, force: true })
  }
}
