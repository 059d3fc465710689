// Writes docs/configuration.md from the settings schema in src/config.ts (each setting's
// description, default and section), so the reference cannot drift from what the server parses.
// `npm run docs:config` rewrites the file; `--check` only says whether it is current (exit 1 if
// not). test/unit/configuration-docs.test.ts fails when the committed file differs.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { configSchema, OTHER_ENVIRONMENT, type SettingDocs } from '../src/config.ts'

export const CONFIGURATION_DOCS = path.resolve(import.meta.dirname, '../docs/configuration.md')

const INTRO = `# Configuration

<!-- Generated from src/config.ts by scripts/generate-config-docs.ts (npm run docs:config). Do not edit by hand. -->

Every setting is an environment variable, validated at start: a bad value stops the server with a
message that names the variable. Empty values count as unset. Yes/no settings take \`true\`,
\`false\`, \`1\`, \`0\`, \`yes\` or \`no\`; rates are \`points/seconds\`. With Helm, non-secret settings
go in the chart's \`config\` value under these names, secrets in its Secret
([deploy.md](deploy.md#install-with-helm)).
`

/** `docs/x.md#y` in a description becomes a link relative to docs/. */
function linkDocs(text: string): string {
  return text.replace(/\bdocs\/([\w./-]+\.md)(#[\w-]+)?/g, (_m, file: string, anchor = '') => `[${file}](${file}${anchor})`)
}

const cell = (text: string) => text.replace(/\|/g, '\\|')

function shownDefault(value: unknown): string {
  if (value === undefined || value === '') return '—'
  return `\`${String(value)}\``
}

export function renderConfigurationDocs(): string {
  const defaults = configSchema.parse({}) as Record<string, unknown>
  const lines: string[] = [INTRO]
  for (const [name, setting] of Object.entries(configSchema.shape)) {
    const meta = (setting.meta() ?? {}) as SettingDocs & { description?: string }
    if (!meta.description) throw new Error(`src/config.ts: ${name} has no description`)
    if (meta.section) lines.push(`## ${meta.section}`, '', '| Variable | Default | Meaning |', '|---|---|---|')
    const dflt = meta.shownDefault === undefined ? shownDefault(defaults[name]) : meta.shownDefault
    lines.push(`| \`${name}\` | ${cell(dflt)} | ${cell(linkDocs(meta.description))} |`)
    const next = Object.values(configSchema.shape)[Object.keys(configSchema.shape).indexOf(name) + 1]
    if (next === undefined || (next.meta() as SettingDocs | undefined)?.section) lines.push('')
  }
  lines.push('## Read by Node, not by the server', '', '| Variable | Default | Meaning |', '|---|---|---|')
  for (const v of OTHER_ENVIRONMENT) lines.push(`| \`${v.name}\` | ${cell(v.shownDefault)} | ${cell(linkDocs(v.description))} |`)
  return `${lines.join('\n')}\n`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderConfigurationDocs()
  if (process.argv.includes('--check')) {
    const current = readFileSync(CONFIGURATION_DOCS, 'utf8')
    if (current !== text) {
      console.error('docs/configuration.md is out of date: run npm run docs:config')
      process.exit(1)
    }
  } else {
    writeFileSync(CONFIGURATION_DOCS, text)
    console.log(`wrote ${path.relative(process.cwd(), CONFIGURATION_DOCS)}`)
  }
}
