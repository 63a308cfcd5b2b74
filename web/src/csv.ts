/**
 * The first rows of a CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF), for a preview.
 * Stops after `maxRows` rows, so a large file costs no more than its preview.
 */
export function parseCsvPreview(text: string, maxRows = 10): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let i = 0
  const endField = () => {
    row.push(field)
    field = ''
  }
  const endRow = () => {
    endField()
    rows.push(row)
    row = []
  }
  while (i < text.length && rows.length < maxRows) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i += 2
        continue
      }
      if (c === '"') quoted = false
      else field += c
      i += 1
      continue
    }
    if (c === '"' && field === '') quoted = true
    else if (c === ',') endField()
    else if (c === '\n') endRow()
    else if (c === '\r') {
      if (text[i + 1] !== '\n') endRow()
    } else field += c
    i += 1
  }
  if (rows.length < maxRows && (field !== '' || row.length > 0)) endRow()
  return rows
}
