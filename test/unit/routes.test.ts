import { describe, expect, it } from 'vitest'
import { allowedMethods, matchRoute } from '../../bin/local/runtime.js'
import { routes } from '../../lib/routes.js'

describe('the local router', () => {
  it('matches a static path before a dynamic one', () => {
    expect(matchRoute('GET', '/files')).toMatchObject({ route: { id: 'ListFiles' }, params: {} })
    expect(matchRoute('POST', '/files/presigned-upload')).toMatchObject({ route: { id: 'PresignUpload' } })
  })

  it('extracts and decodes path parameters', () => {
    expect(matchRoute('GET', '/files/abc%20d')).toMatchObject({ route: { id: 'GetFile' }, params: { id: 'abc d' } })
  })

  it('tells a wrong method from an unknown path', () => {
    expect(matchRoute('PUT', '/files/x')).toBe('method')
    expect(matchRoute('GET', '/nope')).toBeUndefined()
  })

  it('treats a static path as a resource of its own: another method on it is a 405, not the dynamic route', () => {
    expect(matchRoute('GET', '/files/presigned-upload')).toBe('method')
    expect(allowedMethods('/files/presigned-upload')).toEqual(['POST'])
    expect(allowedMethods('/files')).toEqual(['GET'])
    expect(allowedMethods('/files/x')).toContain('GET')
  })

  it('serves every route in the table', () => {
    for (const route of routes) {
      const path = route.path.replace(/\{\w+\}/g, 'x')
      expect(matchRoute(route.method, path)).toMatchObject({ route: { id: route.id } })
    }
  })
})
