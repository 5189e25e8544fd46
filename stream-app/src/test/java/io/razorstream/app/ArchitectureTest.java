package io.razorstream.app;

import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/** No package cycles in the service (each package a slice, the root included). */
class ArchitectureTest {
    @Test
    void noPackageCycles() {
        slices().matching("io.razorstream.(**)").should().beFreeOfCycles()
                .check(new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("io.razorstream.app"));
    }
}
