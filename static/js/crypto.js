// End-to-end encryption primitives, WebCrypto only. The same scheme in Python is
// e2ee/scheme.py (the server checks keys with it; decrypt_export opens exports with it).
//
// - Identity key: RSA-OAEP 3072 with SHA-256. The private key is kept non-extractable in
//   IndexedDB; it leaves the browser only as a backup encrypted with AES-GCM under a key
//   derived from the person's passphrase (PBKDF2-SHA-256, 600,000 iterations).
// - Conversation key: AES-GCM 256, wrapped with RSA-OAEP for each member and the escrow key.
// - Message: JSON {v, text, files} under AES-GCM, 96-bit random nonce, associated data
//   binding it to its conversation and key id. File: AES-GCM with its own key.

const subtle = () => {
  if (!window.isSecureContext || !crypto.subtle) throw new Error("End-to-end encryption needs a secure (HTTPS) page.");
  return crypto.subtle;
};
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const RSA = { name: "RSA-OAEP", modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
export const PBKDF2_ITERATIONS = 600000;

export function toBase64(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const random = (length) => crypto.getRandomValues(new Uint8Array(length));
export const messageAad = (conversationId, keyId) => encoder.encode(`teamchat:v1:conversation:${conversationId}:key:${keyId}`);
const FILE_AAD = encoder.encode("teamchat:v1:file");
const backupAad = (userId) => encoder.encode(`teamchat:v1:key-backup:${userId}`);

export async function fingerprintOf(spkiBase64) {
  const digest = await subtle().digest("SHA-256", fromBase64(spkiBase64));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Thirty digits from both public keys; both people compute the same (lower user id first).
export async function safetyNumber(userA, spkiA, userB, spkiB) {
  const [first, second] = [[userA, spkiA], [userB, spkiB]].sort((x, y) => x[0] - y[0]);
  const digest = new DataView(await subtle().digest("SHA-256",
    encoder.encode(`teamchat-safety-v1:${first[0]}:${first[1]}:${second[0]}:${second[1]}`)));
  const groups = [];
  for (let i = 0; i < 6; i += 1) groups.push(String(digest.getUint32(i * 4) % 100000).padStart(5, "0"));
  return groups.join(" ");
}

// --- Identity keys ---

// A new key pair: the public key (base64 SPKI), the private key as a non-extractable
// CryptoKey, and its backup encrypted under the passphrase.
export async function createIdentity(userId, passphrase) {
  const pair = await subtle().generateKey(RSA, true, ["wrapKey", "unwrapKey", "encrypt", "decrypt"]);
  const publicKey = toBase64(await subtle().exportKey("spki", pair.publicKey));
  const pkcs8 = await subtle().exportKey("pkcs8", pair.privateKey);
  const salt = random(16);
  const iv = random(12);
  const wrapping = await passphraseKey(passphrase, salt, PBKDF2_ITERATIONS);
  const ciphertext = await subtle().encrypt({ name: "AES-GCM", iv, additionalData: backupAad(userId) }, wrapping, pkcs8);
  const privateKey = await importPrivate(pkcs8);
  return {
    publicKey, privateKey, fingerprint: await fingerprintOf(publicKey),
    backup: { kdf: "PBKDF2", hash: "SHA-256", iterations: PBKDF2_ITERATIONS, salt: toBase64(salt), cipher: "AES-GCM", iv: toBase64(iv), ciphertext: toBase64(ciphertext) },
  };
}

// The private key from its backup; throws WrongPassphrase when the passphrase does not open it.
export class WrongPassphrase extends Error {}

export async function restoreIdentity(userId, backup, passphrase) {
  const wrapping = await passphraseKey(passphrase, fromBase64(backup.salt), backup.iterations);
  let pkcs8;
  try {
    pkcs8 = await subtle().decrypt({ name: "AES-GCM", iv: fromBase64(backup.iv), additionalData: backupAad(userId) }, wrapping, fromBase64(backup.ciphertext));
  } catch {
    throw new WrongPassphrase("That passphrase does not unlock your key.");
  }
  return importPrivate(pkcs8);
}

async function passphraseKey(passphrase, salt, iterations) {
  const material = await subtle().importKey("raw", encoder.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return subtle().deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

// Non-extractable: script on the page can use it but never read it out.
function importPrivate(pkcs8) {
  return subtle().importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["unwrapKey", "decrypt"]);
}

export function importPublic(spkiBase64) {
  return subtle().importKey("spki", fromBase64(spkiBase64), { name: "RSA-OAEP", hash: "SHA-256" }, false, ["wrapKey", "encrypt"]);
}

export function importPem(pem) {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return importPublic(body);
}

// --- Conversation keys ---

export function newConversationKey() {
  // Extractable only so that it can be wrapped for other members' public keys.
  return subtle().generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
}

export async function wrapFor(publicKey, conversationKey) {
  return toBase64(await subtle().wrapKey("raw", conversationKey, publicKey, { name: "RSA-OAEP" }));
}

export function unwrap(privateKey, wrappedBase64) {
  return subtle().unwrapKey("raw", fromBase64(wrappedBase64), privateKey, { name: "RSA-OAEP" },
    { name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
}

// --- Messages and files ---

export async function sealMessage(key, conversationId, keyId, body) {
  const nonce = random(12);
  const data = await subtle().encrypt({ name: "AES-GCM", iv: nonce, additionalData: messageAad(conversationId, keyId) }, key,
    encoder.encode(JSON.stringify({ v: 1, ...body })));
  return { ciphertext: toBase64(data), nonce: toBase64(nonce), key_id: keyId };
}

export async function openMessage(key, conversationId, keyId, ciphertext, nonce) {
  const data = await subtle().decrypt({ name: "AES-GCM", iv: fromBase64(nonce), additionalData: messageAad(conversationId, keyId) }, key,
    fromBase64(ciphertext));
  return JSON.parse(decoder.decode(data));
}

export async function sealFile(bytes) {
  const key = await subtle().generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
  const nonce = random(12);
  const data = await subtle().encrypt({ name: "AES-GCM", iv: nonce, additionalData: FILE_AAD }, key, bytes);
  return { data, key: toBase64(await subtle().exportKey("raw", key)), nonce: toBase64(nonce) };
}

export async function openFile(bytes, keyBase64, nonceBase64) {
  const key = await subtle().importKey("raw", fromBase64(keyBase64), "AES-GCM", false, ["decrypt"]);
  return subtle().decrypt({ name: "AES-GCM", iv: fromBase64(nonceBase64), additionalData: FILE_AAD }, key, bytes);
}

// --- This device's key store (IndexedDB keeps CryptoKey objects without exporting them) ---

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("teamchat-e2ee", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("identity");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export async function storeIdentity(userId, identity) {
  const db = await database();
  await new Promise((resolve, reject) => {
    const tx = db.transaction("identity", "readwrite");
    tx.objectStore("identity").put(identity, String(userId));
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}

export async function loadIdentity(userId) {
  const db = await database();
  const value = await new Promise((resolve, reject) => {
    const request = db.transaction("identity").objectStore("identity").get(String(userId));
    request.onsuccess = () => resolve(request.result || null);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return value;
}
