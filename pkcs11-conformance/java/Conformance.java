// Java SunPKCS11 conformance checks. Compiled and run by suites/java.sh.
//
// usage: java Conformance CONFIG PIN RESULTS
//   CONFIG   SunPKCS11 configuration file (name, library, slot)
//   PIN      user PIN of the token
//   RESULTS  file to append "PASS\tname" / "FAIL\tname\treason" lines to
//
// Every token result is checked with the JDK's software providers
// (SunRsaSign, SunEC, SunJCE).
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.*;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.*;
import java.util.*;
import javax.crypto.*;
import javax.crypto.spec.*;

public class Conformance {
    static PrintStream results;
    static int passed, failed;
    static Provider p11;
    static char[] pin;

    interface Check { void run() throws Exception; }

    static void check(String name, Check c) {
        try {
            c.run();
            results.println("PASS\t" + name);
            results.flush();
            passed++;
            if (!"1".equals(System.getenv("QUIET"))) System.err.println("  ok    [java] " + name);
        } catch (Throwable t) {
            String reason = String.valueOf(t).replace('\t', ' ').replace('\n', ' ');
            results.println("FAIL\t" + name + "\t" + reason);
            results.flush();
            failed++;
            System.err.println("  FAIL  [java] " + name + ": " + reason);
            t.printStackTrace(System.err);
        }
    }

    static void require(boolean cond, String msg) {
        if (!cond) throw new AssertionError(msg);
    }

    static byte[] message() {
        byte[] m = new byte[4096];
        new Random(42).nextBytes(m);
        return m;
    }

    static PublicKey software(PublicKey k) throws Exception {
        // Re-create the public key in a software provider from its encoding.
        String alg = k.getAlgorithm();
        KeyFactory kf = alg.equals("EC") ? KeyFactory.getInstance("EC", "SunEC")
                                         : KeyFactory.getInstance("RSA", "SunRsaSign");
        return kf.generatePublic(new X509EncodedKeySpec(k.getEncoded()));
    }

    static void signVerify(String alg, PrivateKey priv, PublicKey pub, String swProvider,
                           AlgorithmParameterSpec spec) throws Exception {
        byte[] msg = message();
        Signature s = Signature.getInstance(alg, p11);
        if (spec != null) s.setParameter(spec);
        s.initSign(priv);
        s.update(msg);
        byte[] sig = s.sign();
        Signature v = Signature.getInstance(alg, swProvider);
        if (spec != null) v.setParameter(spec);
        v.initVerify(software(pub));
        v.update(msg);
        require(v.verify(sig), alg + " signature made on the token does not verify in " + swProvider);
        // and a modified message must not verify
        msg[0] ^= 1;
        v.initVerify(software(pub));
        v.update(msg);
        require(!v.verify(sig), alg + " signature verifies for a different message");
        // the token verifies its own signature too
        msg[0] ^= 1;
        Signature tv = Signature.getInstance(alg, p11);
        if (spec != null) tv.setParameter(spec);
        tv.initVerify(pub);
        tv.update(msg);
        require(tv.verify(sig), alg + " token does not verify its own signature");
    }

    static KeyPair rsa2048, ec256, ec384;
    static SecretKey aesToken;

    public static void main(String[] args) throws Exception {
        String config = args[0];
        pin = args[1].toCharArray();
        results = new PrintStream(new FileOutputStream(args[2], true), true, "UTF-8");

        check("SunPKCS11 provider configured with the module", () -> {
            Provider base = Security.getProvider("SunPKCS11");
            require(base != null, "SunPKCS11 provider missing from this JDK");
            p11 = base.configure(config);
            Security.addProvider(p11);
            require(p11.getName().startsWith("SunPKCS11-"), "unexpected provider name " + p11.getName());
        });
        if (p11 == null) { finish(); return; }

        KeyStore[] ksHolder = new KeyStore[1];
        check("KeyStore PKCS11 load with PIN", () -> {
            KeyStore ks = KeyStore.getInstance("PKCS11", p11);
            ks.load(null, pin);
            ksHolder[0] = ks;
            System.err.println("    aliases: " + Collections.list(ks.aliases()));
        });
        KeyStore ks = ksHolder[0];

        check("KeyStore entry from pkcs11-tool: private key + certificate", () -> {
            require(ks != null, "keystore not loaded");
            require(ks.isKeyEntry("java-imported"), "alias java-imported is not a key entry; aliases: "
                    + Collections.list(ks.aliases()));
            Certificate c = ks.getCertificate("java-imported");
            require(c instanceof X509Certificate, "no certificate for java-imported");
            PrivateKey k = (PrivateKey) ks.getKey("java-imported", null);
            require(k != null && k.getAlgorithm().equals("RSA"), "no RSA private key for java-imported");
            signVerify("SHA256withRSA", k, c.getPublicKey(), "SunRsaSign", null);
        });

        check("KeyPairGenerator RSA 2048 on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", p11);
            g.initialize(new RSAKeyGenParameterSpec(2048, RSAKeyGenParameterSpec.F4));
            rsa2048 = g.generateKeyPair();
            RSAPublicKey pub = (RSAPublicKey) rsa2048.getPublic();
            require(pub.getModulus().bitLength() == 2048, "modulus is " + pub.getModulus().bitLength() + " bits");
            require(pub.getPublicExponent().equals(BigInteger.valueOf(65537)), "public exponent not 65537");
            require(rsa2048.getPrivate().getEncoded() == null, "private key is extractable (getEncoded() != null)");
        });
        check("SHA256withRSA sign on token, verify in SunRsaSign", () -> {
            signVerify("SHA256withRSA", rsa2048.getPrivate(), rsa2048.getPublic(), "SunRsaSign", null);
        });
        check("RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) sign on token, verify in SunRsaSign", () -> {
            PSSParameterSpec spec = new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1);
            signVerify("RSASSA-PSS", rsa2048.getPrivate(), rsa2048.getPublic(), "SunRsaSign", spec);
        });
        check("SHA384withRSA sign on token, verify in SunRsaSign", () -> {
            signVerify("SHA384withRSA", rsa2048.getPrivate(), rsa2048.getPublic(), "SunRsaSign", null);
        });
        check("RSA/ECB/PKCS1Padding: SunJCE encrypts, token decrypts", () -> {
            byte[] pt = "java conformance secret".getBytes(StandardCharsets.UTF_8);
            Cipher enc = Cipher.getInstance("RSA/ECB/PKCS1Padding", "SunJCE");
            enc.init(Cipher.ENCRYPT_MODE, software(rsa2048.getPublic()));
            byte[] ct = enc.doFinal(pt);
            Cipher dec = Cipher.getInstance("RSA/ECB/PKCS1Padding", p11);
            dec.init(Cipher.DECRYPT_MODE, rsa2048.getPrivate());
            require(Arrays.equals(dec.doFinal(ct), pt), "decrypted data differs");
        });

        check("KeyPairGenerator EC secp256r1 on the token", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p11);
            g.initialize(new ECGenParameterSpec("secp256r1"));
            ec256 = g.generateKeyPair();
            require(((ECPublicKey) ec256.getPublic()).getParams().getCurve().getField().getFieldSize() == 256,
                    "not a 256-bit curve");
        });
        check("SHA256withECDSA sign on token, verify in SunEC", () -> {
            signVerify("SHA256withECDSA", ec256.getPrivate(), ec256.getPublic(), "SunEC", null);
        });
        check("KeyPairGenerator EC secp384r1 + SHA384withECDSA, verify in SunEC", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p11);
            g.initialize(new ECGenParameterSpec("secp384r1"));
            ec384 = g.generateKeyPair();
            signVerify("SHA384withECDSA", ec384.getPrivate(), ec384.getPublic(), "SunEC", null);
        });
        check("ECDH KeyAgreement on token == SunEC", () -> {
            KeyPairGenerator sg = KeyPairGenerator.getInstance("EC", "SunEC");
            sg.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair peer = sg.generateKeyPair();
            KeyAgreement tok = KeyAgreement.getInstance("ECDH", p11);
            tok.init(ec256.getPrivate());
            tok.doPhase(peer.getPublic(), true);
            byte[] a = tok.generateSecret();
            KeyAgreement sw = KeyAgreement.getInstance("ECDH", "SunEC");
            sw.init(peer.getPrivate());
            sw.doPhase(software(ec256.getPublic()), true);
            byte[] b = sw.generateSecret();
            require(Arrays.equals(a, b), "ECDH shared secrets differ");
        });

        check("KeyGenerator AES-256 on the token", () -> {
            KeyGenerator g = KeyGenerator.getInstance("AES", p11);
            g.init(256);
            aesToken = g.generateKey();
            require(aesToken.getEncoded() == null || aesToken.getEncoded().length == 32,
                    "unexpected key encoding");
        });
        check("AES/GCM/NoPadding encrypt + decrypt with the token AES key", () -> {
            byte[] iv = new byte[12];
            new SecureRandom().nextBytes(iv);
            byte[] aad = "header".getBytes(StandardCharsets.UTF_8);
            byte[] pt = message();
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p11);
            c.init(Cipher.ENCRYPT_MODE, aesToken, new GCMParameterSpec(128, iv));
            c.updateAAD(aad);
            byte[] ct = c.doFinal(pt);
            require(ct.length == pt.length + 16, "ciphertext+tag length " + ct.length);
            Cipher d = Cipher.getInstance("AES/GCM/NoPadding", p11);
            d.init(Cipher.DECRYPT_MODE, aesToken, new GCMParameterSpec(128, iv));
            d.updateAAD(aad);
            require(Arrays.equals(d.doFinal(ct), pt), "GCM roundtrip differs");
            ct[5] ^= 1;
            Cipher t = Cipher.getInstance("AES/GCM/NoPadding", p11);
            t.init(Cipher.DECRYPT_MODE, aesToken, new GCMParameterSpec(128, iv));
            t.updateAAD(aad);
            try {
                t.doFinal(ct);
                throw new AssertionError("tampered GCM ciphertext decrypted");
            } catch (AEADBadTagException expected) {
                // ok
            } catch (GeneralSecurityException | ProviderException other) {
                System.err.println("    tampered ciphertext rejected with " + other);
            }
        });
        check("AES/GCM/NoPadding with a known key: token == SunJCE", () -> {
            byte[] key = new byte[32];
            new Random(7).nextBytes(key);
            byte[] iv = new byte[12];
            new Random(8).nextBytes(iv);
            byte[] pt = message();
            SecretKey tk = SecretKeyFactory.getInstance("AES", p11).translateKey(new SecretKeySpec(key, "AES"));
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p11);
            c.init(Cipher.ENCRYPT_MODE, tk, new GCMParameterSpec(128, iv));
            byte[] ct = c.doFinal(pt);
            Cipher s = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
            s.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
            require(Arrays.equals(ct, s.doFinal(pt)), "token and SunJCE GCM ciphertexts differ");
        });
        check("AES/CBC/PKCS5Padding with a known key: token == SunJCE", () -> {
            byte[] key = new byte[32];
            new Random(9).nextBytes(key);
            byte[] iv = new byte[16];
            new Random(10).nextBytes(iv);
            byte[] pt = Arrays.copyOf(message(), 1000);
            SecretKey tk = SecretKeyFactory.getInstance("AES", p11).translateKey(new SecretKeySpec(key, "AES"));
            Cipher c = Cipher.getInstance("AES/CBC/PKCS5Padding", p11);
            c.init(Cipher.ENCRYPT_MODE, tk, new IvParameterSpec(iv));
            byte[] ct = c.doFinal(pt);
            Cipher s = Cipher.getInstance("AES/CBC/PKCS5Padding", "SunJCE");
            s.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
            require(Arrays.equals(s.doFinal(ct), pt), "SunJCE cannot decrypt the token's CBC ciphertext");
        });
        check("MessageDigest SHA-256 on token == SUN", () -> {
            byte[] a = MessageDigest.getInstance("SHA-256", p11).digest(message());
            byte[] b = MessageDigest.getInstance("SHA-256", "SUN").digest(message());
            require(Arrays.equals(a, b), "digests differ");
        });
        check("SecureRandom PKCS11", () -> {
            SecureRandom r = SecureRandom.getInstance("PKCS11", p11);
            byte[] a = new byte[32], b = new byte[32];
            r.nextBytes(a);
            r.nextBytes(b);
            require(!Arrays.equals(a, b), "two random outputs are equal");
        });
        check("KeyStore stores a token AES key and finds it after reload", () -> {
            require(ks != null, "keystore not loaded");
            KeyGenerator g = KeyGenerator.getInstance("AES", p11);
            g.init(128);
            SecretKey k = g.generateKey();
            ks.setEntry("java-aes", new KeyStore.SecretKeyEntry(k), null);
            KeyStore ks2 = KeyStore.getInstance("PKCS11", p11);
            ks2.load(null, pin);
            require(ks2.containsAlias("java-aes"), "alias java-aes not found after reload; aliases: "
                    + Collections.list(ks2.aliases()));
            Key k2 = ks2.getKey("java-aes", null);
            require(k2 instanceof SecretKey && k2.getAlgorithm().equals("AES"), "java-aes is not an AES key");
        });
        finish();
    }

    static void finish() {
        results.println("DONE\t" + passed + "\t" + failed);
        results.flush();
    }
}
