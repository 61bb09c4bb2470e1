/** The LM engines' family description: the config reading lives in shared/model/lm_family.ts (the API uses it). */
export * from "../../shared/model/lm_family.ts";
