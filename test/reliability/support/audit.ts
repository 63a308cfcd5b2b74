import { type Kysely, sql } from 'kysely'

/**
 * Test-only instrumentation: a trigger that records every status change and every new claim of a
 * file, so a scenario can count SYNCING→SYNCED transitions independently of the code under test.
 */
export async function installAudit(db: Kysely<any>): Promise<void> {
  await sql`create table if not exists reliability_transitions (
    id bigserial primary key,
    file_id uuid not null,
    from_status text not null,
    to_status text not null,
    claimed_at timestamptz,
    at timestamptz not null default clock_timestamp())`.execute(db)
  await sql`create or replace function reliability_audit() returns trigger language plpgsql as $$
    begin
      if old.status is distinct from new.status or old.claimed_at is distinct from new.claimed_at then
        insert into reliability_transitions (file_id, from_status, to_status, claimed_at)
        values (new.id, old.status, new.status, new.claimed_at);
      end if;
      return new;
    end $$`.execute(db)
  await sql`drop trigger if exists reliability_audit on files`.execute(db)
  await sql`create trigger reliability_audit after update on files for each row execute function reliability_audit()`.execute(db)
}

/** Files whose number of SYNCING→SYNCED transitions is not exactly one. */
export async function syncedTransitionAnomalies(db: Kysely<any>): Promise<{ file_id: string; n: number }[]> {
  const { rows } = await sql<{ file_id: string; n: string }>`
    select f.id as file_id, count(t.id) as n
    from files f left join reliability_transitions t
      on t.file_id = f.id and t.from_status = 'SYNCING' and t.to_status = 'SYNCED'
    where f.status = 'SYNCED'
    group by f.id having count(t.id) <> 1`.execute(db)
  return rows.map((r) => ({ file_id: r.file_id, n: Number(r.n) }))
}

export async function countTransitions(db: Kysely<any>, from: string, to: string): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    select count(*) as n from reliability_transitions where from_status = ${from} and to_status = ${to}`.execute(db)
  return Number(rows[0]!.n)
}

export async function truncateAll(db: Kysely<any>): Promise<void> {
  await sql`truncate table reliability_transitions, webhook_attempts, webhook_deliveries, webhooks, outbox, files restart identity cascade`.execute(db)
}
