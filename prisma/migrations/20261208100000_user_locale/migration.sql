-- The language a person chose for the pages, released as the locale claim (null: none chosen).
ALTER TABLE "User" ADD COLUMN "locale" TEXT;
