CREATE TABLE "customers" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"known_since" timestamp (3) with time zone DEFAULT now() NOT NULL
);
