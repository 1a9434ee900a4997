// Formatting numbers, sizes, durations and times for display.

const integer = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const oneDecimal = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});
const dateTime = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
const dateTimeThisYear = new Intl.DateTimeFormat(undefined,
  {month: "short", day: "numeric", hour: "numeric", minute: "2-digit"});

export function formatNumber(value) {
  return value === null || value === undefined || Number.isNaN(Number(value)) ? "—" : integer.format(value);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? integer.format(value) : oneDecimal.format(value)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  const total = Math.max(0, Number(seconds));
  if (total < 10) return `${oneDecimal.format(total)} s`;
  const rounded = Math.round(total);
  const h = Math.floor(rounded / 3600);
  const m = Math.floor((rounded % 3600) / 60);
  const s = rounded % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

export function formatRate(rowsPerSecond) {
  if (!rowsPerSecond) return "—";
  return `${integer.format(rowsPerSecond)} rows/s`;
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.getFullYear() === new Date().getFullYear() ? dateTimeThisYear.format(date) : dateTime.format(date);
}

export const STATUS_LABELS = Object.freeze({
  PENDING: "Awaiting file",
  QUEUED: "Queued",
  PLANNING: "Reading the file",
  PROCESSING: "Importing rows",
  FINALIZING: "Finishing",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
});

export function statusLabel(status) {
  return STATUS_LABELS[status] || status || "Unknown";
}

export function statusTone(status) {
  switch (status) {
    case "SUCCEEDED": return "success";
    case "FAILED": return "danger";
    case "CANCELLED": return "neutral";
    default: return "active";
  }
}
