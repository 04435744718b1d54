DROP INDEX "orders_user_id_created_at_id_idx";--> statement-breakpoint
CREATE INDEX "orders_user_id_created_at_id_idx" ON "orders" USING btree ("user_id","created_at","id");