DROP INDEX "reviews_product_id_created_at_id_idx";--> statement-breakpoint
DROP INDEX "reviews_author_id_created_at_id_idx";--> statement-breakpoint
CREATE INDEX "reviews_product_id_created_at_id_idx" ON "reviews" USING btree ("product_id","created_at","id");--> statement-breakpoint
CREATE INDEX "reviews_author_id_created_at_id_idx" ON "reviews" USING btree ("author_id","created_at","id");