import { describe, expect, it } from 'vitest'
import { openApiDocument } from '../../functions/core/openapi.js'
import { ERROR_STATUS } from '../../functions/core/middleware/http-errors.js'
import { routes } from '../../lib/routes.js'

type Operation = {
  operationId: string
  security?: unknown[]
  parameters?: { name: string; in: string; required: boolean }[]
  requestBody?: { content: Record<string, { schema: unknown }> }
  responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, any> } }> }>
}
const doc = openApiDocument(routes) as {
  openapi: string
  security: unknown[]
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, unknown> }
}
const op = (method: string, path: string) => doc.paths[path]![method.toLowerCase()]!

describe('the OpenAPI document', () => {
  it('describes every route of the route table with its method, and nothing else', () => {
    for (const route of routes) {
      expect(op(route.method, route.path), `${route.method} ${route.path}`).toMatchObject({ operationId: route.id })
    }
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort())
    expect(doc.openapi).toBe('3.1.0')
  })

  it('requires the bearer token everywhere except on public routes', () => {
    expect(doc.components.securitySchemes).toEqual({ bearer: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }) })
    expect(doc.security).toEqual([{ bearer: [] }])
    for (const route of routes) {
      const operation = op(route.method, route.path)
      if ('public' in route && route.public) {
        expect(operation.security).toEqual([])
        expect(operation.responses['401']).toBeUndefined()
      } else {
        expect(operation.security).toBeUndefined()
        expect(operation.responses['401']).toBeDefined()
      }
    }
  })

  it('documents request bodies, path and query parameters from the handlers\' schemas', () => {
    const presign = op('POST', '/files/presigned-upload').requestBody!.content['application/json']!.schema
    expect((presign as { anyOf: unknown[] }).anyOf).toEqual([
      expect.objectContaining({ type: 'object', required: ['filename', 'external_id'] }),
      expect.objectContaining({ required: ['uploads'], properties: { uploads: expect.objectContaining({ minItems: 1, maxItems: 100 }) } }),
    ])
    expect(Object.keys(op('POST', '/files/presigned-upload').responses)).toEqual(expect.arrayContaining(['200', '201', '429']))
    expect(op('POST', '/files/confirm-uploads').requestBody!.content['application/json']!.schema).toHaveProperty('anyOf')
    expect(op('GET', '/files/{id}').parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })])
    expect(op('GET', '/files').parameters!.map((p) => [p.name, p.in, p.required])).toEqual([
      ['external_id', 'query', false],
      ['limit', 'query', false],
      ['cursor', 'query', false],
    ])
  })

  it('gives every error response the error shape, with codes that answer with that status', () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          const schema = response.content?.['application/json']?.schema
          // Only a 204 goes without a body.
          if (!schema) expect(status, `${method} ${path}`).toBe('204')
          if (!schema || Number(status) < 400 || !schema.properties?.error) continue
          const codes: (keyof typeof ERROR_STATUS)[] = schema.properties.error.properties.code.enum
          expect(codes.length, `${method} ${path} ${status}`).toBeGreaterThan(0)
          for (const code of codes) expect(ERROR_STATUS[code], `${method} ${path} ${code}`).toBe(Number(status))
        }
      }
    }
    expect(Object.keys(op('POST', '/files/confirm-uploads').responses).sort()).toEqual(['200', '400', '401', '404', '409', '413', '500', '503'])
  })

  it('refuses to describe a route it knows nothing about', () => {
    expect(() => openApiDocument([...routes, { id: 'PurgeAll', method: 'DELETE', path: '/files' }])).toThrow(
      'openapi: no operation described for route PurgeAll (DELETE /files)',
    )
  })
})
