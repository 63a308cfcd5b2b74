import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { createDb } from '../../functions/core/db.js'
import { DependencyUnavailableError } from '../../functions/core/errors.js'

const live = createDb({ databaseUrl: process.env.DATABASE_URL!, databasePoolMax: 2 })
afterAll(() => live.destroy())

const causeCode = (error: unknown) => ((error as Error).cause as { code?: string } | undefined)?.code

describe('the database module normalises unavailability where the pool lives', () => {
  it('turns a refused connection into DependencyUnavailableError("database"), keeping the cause', async () => {
    // Port 1 on the loopback: nothing listens, so the connect is refused at once.
    const nowhere = createDb({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none', databasePoolMax: 1 })
    try {
      const error = await nowhere.selectFrom('files').select('id').execute().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DependencyUnavailableError)
      expect(error).toMatchObject({ dependency: 'database' })
      expect(causeCode(error)).toBe('ECONNREFUSED')
    } finally {
      await nowhere.destroy()
    }
  })

  it('turns a connection the server drops inside a transaction into DependencyUnavailableError', async () => {
    const error = await live
      .transaction()
      .execute(async (trx) => {
        await sql`select 1`.execute(trx)
        await sql`select pg_terminate_backend(pg_backend_pid())`.execute(trx)
      })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DependencyUnavailableError)
    // The pool drops the broken client; the next query connects again.
    expect((await sql<{ one: number }>`select 1 as one`.execute(live)).rows).toEqual([{ one: 1 }])
  })

  it('passes query errors through untouched: a bad query is not an outage', async () => {
    const error = await sql`select * from no_such_table`.execute(live).catch((e: unknown) => e)
    expect(error).not.toBeInstanceOf(DependencyUnavailableError)
    expect((error as { code?: string }).code).toBe('42P01')
  })
})
