import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONFIGURATION_DOCS, renderConfigurationDocs } from '../../scripts/generate-config-docs.ts'
import { configSchema } from '../../src/config.ts'

describe('docs/configuration.md', () => {
  it('is what scripts/generate-config-docs.ts makes of src/config.ts (run npm run docs:config)', () => {
    expect(readFileSync(CONFIGURATION_DOCS, 'utf8')).toBe(renderConfigurationDocs())
  })

  it('documents every setting the schema parses', () => {
    const text = readFileSync(CONFIGURATION_DOCS, 'utf8')
    for (const name of Object.keys(configSchema.shape)) expect(text).toContain(`| \`${name}\` |`)
  })
})
