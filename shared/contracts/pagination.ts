/** Cursor pagination shared by every list route: `?limit=&cursor=` → `{ data, next_cursor }`. */
import { z } from "zod";

export const PAGE_LIMIT_DEFAULT = 20;
export const PAGE_LIMIT_MAX = 100;

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(PAGE_LIMIT_MAX).default(PAGE_LIMIT_DEFAULT),
  cursor: z.string().min(1).max(200).optional()
    .meta({ description: "`next_cursor` of the previous page; absent for the first page" }),
});
export type PageQuery = z.infer<typeof PageQuery>;

export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z.object({
    data: z.array(item),
    next_cursor: z.string().nullable().meta({
      description: "pass as `cursor` for the next page; null on the last",
    }),
  }).meta({ id });
}
