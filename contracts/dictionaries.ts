/** Dictionaries owned by central and distributed to every edge (1.2.1 standard dictionaries). */
import { z } from 'zod';

export const DICTIONARY_NAMES = ['departments', 'staff', 'icd10', 'drugs', 'charge_items'] as const;
export type DictionaryName = (typeof DICTIONARY_NAMES)[number];

export const dictionaryItemSchema = z.object({
  code: z.string().min(1).max(64),
  name: z.string().min(1).max(200),
  /** Type-specific attributes (drug spec/unit/price, staff role/department, ...). */
  attrs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
  active: z.boolean().default(true),
});
export type DictionaryItem = z.infer<typeof dictionaryItemSchema>;

export const dictionarySnapshotSchema = z.object({
  name: z.enum(DICTIONARY_NAMES),
  version: z.number().int().positive(),
  publishedAt: z.string(),
  items: z.array(dictionaryItemSchema),
});
export type DictionarySnapshot = z.infer<typeof dictionarySnapshotSchema>;
