/** Local wall-clock dates (the edge runs in the clinic's time zone). */
const day = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit' });
const stamp = new Intl.DateTimeFormat('sv-SE', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** yyyy-MM-dd in local time. */
export const localDate = (d: Date = new Date()): string => day.format(d);
/** yyyy-MM-dd HH:mm:ss in local time from an ISO instant. */
export const localStamp = (iso: string): string => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? iso : stamp.format(d); };
export const addDays = (date: string, n: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + n * 86400_000).toISOString().slice(0, 10);
/** 12.5 yuan from 1250 fen. */
export const yuan = (fen: number): string => (fen / 100).toFixed(2);
