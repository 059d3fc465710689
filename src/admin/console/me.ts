// Who is signed in (GET /me) and what they may do: pages hide what the person may not do.
import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Me } from './api.ts'

export const MeContext = createContext<Me | undefined>(undefined)

export function useMe(): Me {
  return useContext(MeContext)!
}

export function useCan(): (permission: string) => boolean {
  const me = useMe()
  return (permission) => me.permissions.includes(permission)
}
