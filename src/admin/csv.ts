// CSV for the audit export (RFC 4180): fields with a comma, quote, CR or LF are quoted with
// quotes doubled. Cells a spreadsheet would run as a formula (= + - @, and tab/CR that some treat
// alike) get a leading ' so an attacker-chosen value (a user agent, an email) cannot execute.
const FORMULA = /^[=+\-@\t\r]/

export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value)
  if (FORMULA.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function csvRow(values: unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`
}
