import path from 'node:path'

/** The checkout (or the image's /app): where node_modules, native/ and prisma/ are. */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..')
