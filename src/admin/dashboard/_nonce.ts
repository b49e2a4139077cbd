/**
 * The mark the generated dashboard page carries where each response puts its CSP nonce.
 * @module
 */

/** Replaced by the response's nonce in `<style nonce>` and `<script nonce>`. */
export const NONCE_PLACEHOLDER = "__AETHER_CSP_NONCE__";
