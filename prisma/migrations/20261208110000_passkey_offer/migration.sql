-- When the person declined the offer to create a passkey after a password sign-in (null: never, or offer again).
ALTER TABLE "User" ADD COLUMN "passkeyOfferDeclinedAt" TIMESTAMP(3);
